// UpstreamClient over the shared-state seams: clients given one UpstreamState stop together after
// a 429 and hear of a budget once per change; clients given one TokenCache ask the token service
// once; concurrent requests of one client share one token request. The upstream is a small HTTP
// server in this process, on loopback.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, test } from "node:test";
import { Agent } from "undici";
import { LocalTokenCache, type TokenCache } from "../../src/coordination/token-cache.js";
import {
  LocalUpstreamState,
  type RateLimitSnapshot,
  type UpstreamState,
} from "../../src/coordination/upstream-state.js";
import { UpstreamClient } from "../../src/upstream/client.js";
import { UpstreamError } from "../../src/upstream/errors.js";

const DIGEST = `sha256:${"a".repeat(64)}`;
const TOKEN = "token-1";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe("UpstreamClient with shared upstream state", () => {
  let server: Server;
  let url: string;
  let handle: Handler;
  const dispatcher = new Agent();
  let requests: string[];

  before(async () => {
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await dispatcher.close();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    requests = [];
  });

  function client(
    shared: { state?: UpstreamState; tokens?: TokenCache; budgets?: RateLimitSnapshot[] } = {},
  ) {
    return new UpstreamClient({
      name: "hub",
      url,
      timeouts: { headersMs: 5000, bodyMs: 5000 },
      dispatcher,
      userAgent: "wharf-test",
      state: shared.state ?? new LocalUpstreamState(),
      tokens: shared.tokens ?? new LocalTokenCache(),
      events: { rateLimit: (snapshot) => shared.budgets?.push(snapshot) },
    });
  }

  const manifestFound = (res: ServerResponse, headers: Record<string, string> = {}) => {
    res.writeHead(200, {
      "docker-content-digest": DIGEST,
      "content-type": "application/vnd.oci.image.manifest.v1+json",
      "content-length": "2",
      ...headers,
    });
    res.end();
  };

  test("a 429 seen by one client stops every client sharing its state, without a request", async () => {
    handle = (_req, res) => {
      res.writeHead(429, { "retry-after": "30" });
      res.end();
    };
    const state = new LocalUpstreamState();
    const first = client({ state });
    const second = client({ state });
    const alone = client();
    const rateLimited = (error: unknown) =>
      error instanceof UpstreamError && error.kind === "rate-limited" && error.retryAfterSeconds === 30;
    await assert.rejects(first.headManifest("library/busybox", "latest", []), rateLimited);
    assert.equal(requests.length, 1);
    await assert.rejects(second.headManifest("library/busybox", "latest", []), rateLimited);
    assert.equal(requests.length, 1, "the second client asked the shared state and stayed home");
    assert.ok((await second.rateLimit.snapshot()).backoffUntil);
    await assert.rejects(alone.headManifest("library/busybox", "latest", []), rateLimited);
    assert.equal(requests.length, 2, "a client with a state of its own still asks");
  });

  test("the operator hears of a budget once per change, whichever client saw it", async () => {
    let remaining = 76;
    handle = (_req, res) =>
      manifestFound(res, { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": `${remaining};w=21600` });
    const state = new LocalUpstreamState();
    const budgets: RateLimitSnapshot[] = [];
    const first = client({ state, budgets });
    const second = client({ state, budgets });
    await first.headManifest("library/busybox", "latest", []);
    await second.headManifest("library/busybox", "latest", []);
    await first.headManifest("library/busybox", "latest", []);
    remaining = 75;
    await second.headManifest("library/busybox", "latest", []);
    assert.deepEqual(
      budgets.map((b) => b.remaining),
      [76, 75],
    );
    assert.equal((await first.rateLimit.snapshot()).remaining, 75);
  });

  describe("Bearer tokens", () => {
    let tokenRequests: number;
    beforeEach(() => {
      tokenRequests = 0;
      handle = (req, res) => {
        if (req.url?.startsWith("/token")) {
          tokenRequests++;
          // Slow enough that concurrent requests are all waiting for it.
          setTimeout(() => {
            res.writeHead(200, { "content-type": "application/json" });
            res.end(JSON.stringify({ token: TOKEN, expires_in: 300 }));
          }, 20);
          return;
        }
        if (req.headers.authorization === `Bearer ${TOKEN}`) return manifestFound(res);
        res.writeHead(401, { "www-authenticate": `Bearer realm="${url}/token",service="test"` });
        res.end();
      };
    });

    test("concurrent requests for one scope share one token request", async () => {
      const one = client();
      await Promise.all(Array.from({ length: 5 }, () => one.headManifest("library/busybox", "latest", [])));
      assert.equal(tokenRequests, 1);
      assert.equal(one.tokenRequests, 1);
      await one.headManifest("library/busybox", "1.36", []);
      assert.equal(tokenRequests, 1, "the cached token serves the next request");
    });

    test("a client sharing the token cache uses the token another one fetched", async () => {
      const tokens = new LocalTokenCache();
      const first = client({ tokens });
      const second = client({ tokens });
      await first.headManifest("library/busybox", "latest", []);
      // The second client learns the scheme from its own 401, and must not drop the shared token.
      await second.headManifest("library/busybox", "latest", []);
      await first.headManifest("library/busybox", "latest", []);
      assert.equal(tokenRequests, 1);
      assert.deepEqual([first.tokenRequests, second.tokenRequests], [1, 0]);
    });
  });
});
