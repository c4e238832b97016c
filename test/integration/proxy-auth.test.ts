// Issue 2, case 8 and the upstream client's auth flows: Basic and Bearer upstreams with the
// registry:v2 credential variables (or a YAML config), tokens reused per scope, wrong credentials
// reported clearly, and blob redirects followed without sending the credentials to the CDN.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import { skopeoCopy } from "../harness/clients/index.js";
import { ACCEPT_MANIFESTS, errorCodes, rawRequest } from "../harness/http/requests.js";
import { expectedContent, getImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { type CdnRedirect, startCdnRedirect } from "../harness/upstream/cdn-redirect.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { proxyEnv } from "../harness/wharf/proxy-env.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

const small = getImage("small");
const WRONG = { username: "testuser", password: "not-the-password" };

async function pullSmall(wharf: Wharf): Promise<void> {
  const r = await skopeoCopy(`${wharf.host}/small:latest`, makeTempDir("pull"));
  assert.deepEqual(r.content, expectedContent(small));
}

/**
 * Wharf refusing to serve because the upstream refused it: a spec error the client can read (the
 * content could not be had: not found, saying why, never the upstream's 401 passed on as a
 * challenge to log in to wharf), a log line the operator can act on, and a server that keeps running.
 */
async function assertRefusedClearly(wharf: Wharf): Promise<void> {
  const res = await rawRequest(wharf.url, "/v2/small/manifests/latest", {
    headers: { accept: ACCEPT_MANIFESTS },
    timeoutMs: 20_000,
  });
  assert.equal(res.status, 404, res.body.toString());
  assert.deepEqual(errorCodes(res.body), ["MANIFEST_UNKNOWN"]);
  assert.match(res.body.toString(), /"message":"upstream refused access"/);
  await assert.rejects(
    skopeoCopy(`${wharf.host}/small:latest`, makeTempDir("pull"), { timeoutMs: 30_000 }),
    /: manifest unknown: upstream refused access"$/m,
  );
  assert.equal((await rawRequest(wharf.url, "/v2/")).status, 200, "wharf still serving");
  const told = wharf
    .logLines()
    .filter(
      (l) =>
        Number(l.level) === 40 &&
        l.msg === "upstream refused wharf's credentials; check the repository's username and password",
    );
  assert.equal(told.length, 1, "one warning says the upstream refused wharf's credentials");
}

/** wharf given wrong credentials, or none, for an upstream that wants them: refused clearly. */
function refusedWithoutTheRightCredentials(upstream: () => Upstream): void {
  for (const [what, creds] of [
    ["wrong credentials", WRONG],
    ["no credentials", undefined],
  ] as const) {
    test(`${what}: a clear error, not a crash`, async () => {
      const wharf = await startWharf({ env: proxyEnv(upstream().url, { creds }) });
      try {
        await assertRefusedClearly(wharf);
      } finally {
        await wharf.close();
      }
    });
  }
}

describe("Basic-auth upstream (docker-registry with htpasswd)", () => {
  let up: Upstream;
  before(async () => {
    up = await startUpstream({ auth: "basic", images: [{ image: small, ref: "library/small:latest" }] });
  });
  after(() => up?.close());

  test("REGISTRY_PROXY_USERNAME/PASSWORD: cold and warm pulls byte-exact", async () => {
    const wharf = await startWharf({ env: proxyEnv(up.url, { creds: up.creds }) });
    try {
      const mark = up.mark();
      await pullSmall(wharf);
      await pullSmall(wharf);
      await up.settle();
      const blobGets = up.count({ method: "GET", pathRegex: /\/blobs\//, since: mark });
      assert.equal(blobGets, small.blobs.length, "each blob fetched once, with the credentials");
    } finally {
      await wharf.close();
    }
  });

  test("the same from a YAML config, the password taken from the environment", async () => {
    const configYaml = YAML.stringify({
      log: { level: "info" },
      repositories: {
        hub: {
          type: "proxy",
          upstream: {
            url: up.url,
            username: up.creds.username,
            // biome-ignore lint/suspicious/noTemplateCurlyInString: wharf's own ${VAR} syntax, not JS
            password: "${UPSTREAM_PASSWORD}",
            // this upstream plays Docker Hub, whose official images live under library/
            library_prefix: true,
          },
          tag_ttl: "10s",
        },
      },
    });
    const wharf = await startWharf({ configYaml, env: { UPSTREAM_PASSWORD: up.creds.password } });
    try {
      await pullSmall(wharf);
    } finally {
      await wharf.close();
    }
  });

  refusedWithoutTheRightCredentials(() => up);

  describe("blobs redirected to a CDN on another host, as Docker Hub does", () => {
    let front: CdnRedirect;
    before(async () => {
      front = await startCdnRedirect(up.url, up.creds);
    });
    after(() => front?.close());

    test("wharf follows the redirect and does not send its Authorization to the CDN", async () => {
      const wharf = await startWharf({ env: proxyEnv(front.url, { creds: up.creds }) });
      try {
        await pullSmall(wharf);
      } finally {
        await wharf.close();
      }
      const cdn = front.cdnRequests();
      assert.equal(cdn.length, small.blobs.length, "every blob came from the CDN");
      assert.deepEqual(
        cdn.filter((r) => r.authorization !== undefined),
        [],
        "no credentials sent to the CDN",
      );
    });
  });
});

describe("Bearer-token upstream that refuses anonymous pulls", () => {
  let up: Upstream;
  before(async () => {
    up = await startUpstream({
      auth: "token",
      token: { anonymousPull: false },
      images: [{ image: small, ref: "library/small:latest" }],
    });
  });
  after(() => up?.close());

  test("credentials go to the token service; one token per scope serves many requests", async () => {
    // TTL 0: every pull revalidates its tag upstream, each time with the cached token
    const wharf = await startWharf({ env: proxyEnv(up.url, { creds: up.creds, tagTtl: "0" }) });
    try {
      up.tokenServer!.resetStats();
      for (let i = 0; i < 3; i++) await pullSmall(wharf);
      const grants = up.tokenServer!.log();
      assert.equal(grants.length, 1, JSON.stringify(grants));
      assert.equal(grants[0]?.user, up.creds.username);
      assert.deepEqual(grants[0]?.scopes, ["repository:library/small:pull"]);
      const status = await rawRequest(wharf.url, "/api/status");
      const body = JSON.parse(status.body.toString()) as {
        repositories: Array<{ upstream?: { tokenRequests?: number } }>;
      };
      assert.equal(body.repositories[0]?.upstream?.tokenRequests, 1);
    } finally {
      await wharf.close();
    }
  });

  refusedWithoutTheRightCredentials(() => up);
});
