// Issue 2, case 5 (DESIGN invariant 4): a tag is trusted for its TTL, then revalidated with a HEAD
// that costs no counted GET unless the digest moved; a moved tag is served once the TTL has passed
// and not before; a tag deleted upstream is gone, not served stale. What a user sees, with no bound
// on how fast the machine is: "not before" is shown with a TTL of an hour, "after" by waiting past
// a TTL of a second (a wait can only be too long, never too short). The freshness rule itself, with
// a clock moved by hand, is the in-process tests' business.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fetchToken } from "../harness/auth/bearer.js";
import { skopeoCopy } from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { ACCEPT_MANIFESTS, errorCodes, rawRequest } from "../harness/http/requests.js";
import { expectedContent, getImage, type TestImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import type { Upstream } from "../harness/upstream/docker-registry.js";
import { retag } from "../harness/upstream/registry-write.js";
import type { Wharf } from "../harness/wharf/start.js";

const MANIFEST = /\/manifests\//;
const SHORT_TTL_MS = 1000;

describe("tag freshness", () => {
  let fx: ProxyFixture;
  let up: Upstream;
  /** tag_ttl 1h: nothing in this file outlives it. */
  let hour: Wharf;
  /** tag_ttl 1s: any wait past it is past it. */
  let second: Wharf;
  let zero: Wharf;
  const small = getImage("small");
  const v2 = getImage("small-v2");

  /** The digest wharf serves for name:latest now, and how it says it got it. */
  async function latest(wharf: Wharf, name: string, method = "GET") {
    const res = await rawRequest(wharf.url, `/v2/${name}/manifests/latest`, {
      method,
      headers: { accept: ACCEPT_MANIFESTS },
    });
    assert.equal(res.status, 200, res.body.toString());
    return { digest: res.headers["docker-content-digest"], cache: res.headers["x-wharf-cache"] };
  }

  /** Upstream manifest requests since `mark`, whatever they were answered. */
  async function manifestTraffic(mark: number) {
    await up.settle();
    const asked = up.requests(mark).filter((e) => MANIFEST.test(e.path));
    return {
      heads: asked.filter((e) => e.method === "HEAD").length,
      gets: asked.filter((e) => e.method === "GET").length,
    };
  }

  before(async () => {
    // each test gets its own repository, holding both images so a manifest PUT can move the tag
    const images = ["library/ttl", "library/zero", "library/gone"].flatMap((repo) => [
      { image: small, ref: `${repo}:latest` },
      { image: v2, ref: `${repo}:next` },
    ]);
    fx = await withProxy({ upstream: { images }, wharf: false });
    up = fx.upstream;
    hour = await fx.startWharf({ tagTtl: "1h" });
    second = await fx.startWharf({ tagTtl: `${SHORT_TTL_MS / 1000}s` });
    zero = await fx.startWharf({ tagTtl: "0" });
  });
  after(() => fx?.close());

  test("a moved tag is served from the store within its TTL, upstream not asked; past the TTL it is revalidated and the new digest served", async () => {
    for (const wharf of [hour, second]) assert.equal((await latest(wharf, "ttl")).digest, small.digest);
    const learnt = Date.now();
    await up.settle();
    const mark = up.mark();
    await retag(up, "library/ttl", "latest", v2);
    const soon = await latest(hour, "ttl");
    const head = await latest(hour, "ttl", "HEAD");
    assert.deepEqual(
      [soon.digest, soon.cache, head.digest, head.cache],
      [small.digest, "hit", small.digest, "hit"],
    );
    assert.deepEqual(
      await manifestTraffic(mark),
      { heads: 0, gets: 0 },
      "within the TTL upstream is not asked",
    );
    await sleep(Math.max(0, learnt + SHORT_TTL_MS + 200 - Date.now()));
    assert.equal((await latest(second, "ttl")).digest, v2.digest, "the TTL has passed");
    const r = await skopeoCopy(`${second.host}/ttl:latest`, makeTempDir("pull"));
    assert.deepEqual(r.content, expectedContent(v2));
    const traffic = await manifestTraffic(mark);
    assert.ok(traffic.heads >= 1, "revalidated with a HEAD");
    assert.equal(traffic.gets, 1, "one counted GET, for the new digest");
  });

  test("TTL 0: a moved tag is seen at once", async () => {
    assert.equal((await latest(zero, "zero")).digest, small.digest);
    await retag(up, "library/zero", "latest", v2);
    assert.equal((await latest(zero, "zero")).digest, v2.digest);
    assert.equal((await latest(zero, "zero", "HEAD")).digest, v2.digest);
    await retag(up, "library/zero", "latest", small);
    assert.equal((await latest(zero, "zero", "HEAD")).digest, small.digest);
    assert.equal((await latest(zero, "zero")).digest, small.digest);
  });

  test("a revalidation that finds the digest unchanged costs one HEAD upstream and no GET", async () => {
    await latest(zero, "zero");
    await up.settle();
    const mark = up.mark();
    const again = await latest(zero, "zero");
    assert.deepEqual([again.digest, again.cache], [small.digest, "revalidated"]);
    assert.deepEqual(await manifestTraffic(mark), { heads: 1, gets: 0 });
    // a whole warm pull by tag (the first one fetches the blobs): the tag's HEAD, nothing else
    await skopeoCopy(`${zero.host}/zero:latest`, makeTempDir("pull"));
    await up.settle();
    const pullMark = up.mark();
    const r = await skopeoCopy(`${zero.host}/zero:latest`, makeTempDir("pull"));
    assert.deepEqual(r.content, expectedContent(small));
    await up.settle();
    const gets = up.requests(pullMark).filter((e) => e.method === "GET");
    assert.deepEqual(gets, [], "no manifest or blob GET upstream");
  });

  test("a tag deleted upstream is not served stale", async () => {
    assert.equal((await latest(zero, "gone")).digest, small.digest);
    await deleteManifest(up, "library/gone", small);
    const res = await rawRequest(zero.url, "/v2/gone/manifests/latest", {
      headers: { accept: ACCEPT_MANIFESTS },
    });
    assert.equal(res.status, 404, res.body.toString());
    assert.deepEqual(errorCodes(res.body), ["MANIFEST_UNKNOWN"]);
  });
});

/** Deletes a manifest (and with it every tag on it) from the upstream registry. */
async function deleteManifest(up: Upstream, repo: string, image: TestImage): Promise<void> {
  const token = await fetchToken(up.tokenServer!, [`repository:${repo}:*`], up.creds);
  const res = await fetch(`${up.url}/v2/${repo}/manifests/${image.digest}`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.status !== 202)
    throw new Error(`DELETE ${repo}@${image.digest}: ${res.status} ${await res.text()}`);
}
