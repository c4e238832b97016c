// Issue 2, case 6: Docker Hub's pull limit, played by the fault proxy. Warm pulls never spend the
// budget (a HEAD revalidates the tag), the budget is visible, a 429 for uncached content reaches
// the client as TOOMANYREQUESTS with Retry-After, cached content still pulls, and wharf backs off
// instead of asking again.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ctrPull, dockerHubMirrorHosts, skopeoCopy } from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { ACCEPT_MANIFESTS, errorCodes, rawRequest } from "../harness/http/requests.js";
import { expectedContent, getImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import type { FaultProxy } from "../harness/upstream/fault-proxy.js";
import type { Wharf } from "../harness/wharf/start.js";

interface RateLimitStatus {
  limit?: number;
  remaining?: number;
  windowSeconds?: number;
  backoffUntil?: string;
}

const LIMIT = 100;

describe("upstream pull rate limit", () => {
  let fx: ProxyFixture;
  let proxy: FaultProxy;
  let wharf: Wharf;
  const small = getImage("small");
  const many = getImage("many");
  const docker = getImage("docker");
  const get = (p: string, method = "GET") =>
    rawRequest(wharf.url, p, { method, headers: { accept: ACCEPT_MANIFESTS }, timeoutMs: 20_000 });
  const pullSmall = async () => {
    const r = await skopeoCopy(`${wharf.host}/small:latest`, makeTempDir("pull"));
    assert.deepEqual(r.content, expectedContent(small));
  };
  async function rateLimitStatus(): Promise<RateLimitStatus> {
    const res = await get("/api/status");
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body.toString()) as {
      repositories: Array<{ upstream?: { rateLimit?: RateLimitStatus } }>;
    };
    const rateLimit = body.repositories[0]?.upstream?.rateLimit;
    assert.ok(rateLimit, res.body.toString());
    return rateLimit;
  }

  before(async () => {
    fx = await withProxy({
      upstream: {
        images: [
          { image: small, ref: "library/small:latest" },
          { image: many, ref: "library/many:latest" },
          { image: docker, ref: "library/docker:latest" },
        ],
      },
      faults: { mode: "ratelimit", limit: LIMIT },
      // TTL 0: every warm pull revalidates its tag upstream, the case where a GET would cost most
      wharf: { tagTtl: "0" },
    });
    ({ faults: proxy, wharf } = fx);
  });
  after(() => fx?.close());

  test("warm pulls by tag revalidate with HEADs and spend no counted manifest GET", async () => {
    await pullSmall();
    assert.equal(proxy.stats().rateCounted, 1, "the cold pull costs one counted GET");
    const heads = proxy.stats().manifestHead;
    for (let i = 0; i < 3; i++) await pullSmall();
    const c = await ctrPull("docker.io/library/small:latest", { hosts: dockerHubMirrorHosts(wharf.url) });
    assert.equal(c.digest, small.digest);
    assert.equal(proxy.stats().rateCounted, 1, "warm pulls spent nothing");
    assert.ok(proxy.stats().manifestHead >= heads + 4, "each warm pull revalidated with a HEAD");
  });

  test("the pull budget is visible in /api/status and in a log line", async () => {
    const remaining = LIMIT - proxy.stats().rateCounted;
    const status = await rateLimitStatus();
    assert.deepEqual(
      { limit: status.limit, remaining: status.remaining, windowSeconds: status.windowSeconds },
      { limit: LIMIT, remaining, windowSeconds: 21600 },
    );
    const line = await wharf.waitLog((l) => l.msg === "upstream pull budget" && l.remaining === remaining);
    assert.equal(line.limit, LIMIT);
  });

  test("429: uncached content gets 429 + Retry-After + TOOMANYREQUESTS; cached content still pulls", async () => {
    proxy.setMode("429");
    await pullSmall();
    const refused = await get("/v2/many/manifests/latest");
    assert.equal(refused.status, 429, refused.body.toString());
    assert.deepEqual(errorCodes(refused.body), ["TOOMANYREQUESTS"]);
    const retryAfter = Number(refused.headers["retry-after"]);
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After: ${refused.headers["retry-after"]}`);
    assert.equal(proxy.stats().rateLimited, 1);
    // (no client pull of it here: containers/image honours Retry-After and would wait out the minute)
    // in the back-off the tag cannot be revalidated (its HEAD counts as a request to hold back too):
    // the last known digest stands in, marked stale
    const tag = await get("/v2/small/manifests/latest");
    assert.equal(tag.status, 200);
    assert.equal(tag.headers["docker-content-digest"], small.digest);
    assert.equal(tag.headers["x-wharf-cache"], "stale");
    assert.match(String(tag.headers.warning), /^110 /);
    await pullSmall();
    const r = await skopeoCopy(`${wharf.host}/small@${small.digest}`, makeTempDir("pull"));
    assert.deepEqual(r.content, expectedContent(small));
    const status = await rateLimitStatus();
    assert.equal(status.remaining, 0);
    assert.ok(status.backoffUntil && Date.parse(status.backoffUntil) > Date.now(), JSON.stringify(status));
  });

  test("after a 429 wharf backs off: uncached requests in the back-off do not reach the upstream", async () => {
    const seen = proxy.requests().length;
    for (const p of [
      "/v2/docker/manifests/latest",
      "/v2/many/manifests/latest",
      `/v2/docker/manifests/${docker.digest}`,
    ]) {
      const res = await get(p);
      assert.equal(res.status, 429, `${p}: ${res.body.toString()}`);
      assert.deepEqual(errorCodes(res.body), ["TOOMANYREQUESTS"]);
      assert.ok(Number(res.headers["retry-after"]) > 0, `${p}: Retry-After ${res.headers["retry-after"]}`);
    }
    const reached = proxy
      .requests()
      .slice(seen)
      .filter((r) => r.path.includes("/manifests/") && r.method === "GET");
    assert.deepEqual(reached, [], "no manifest GET went upstream during the back-off");
    assert.equal(proxy.stats().rateLimited, 1);
  });
});
