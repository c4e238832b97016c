// Invariant 4 through a real ProxyRepository: a tag within its TTL costs no upstream request, an
// older one one HEAD, a moved one one GET by digest; a tag deleted upstream is forgotten. Time moves
// on a manual clock, so the TTL is tested exactly and without waiting.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UpstreamError } from "../../src/upstream/errors.js";
import { NotFoundError } from "../../src/util/errors.js";
import { FakeUpstream } from "../fakes/fake-upstream.js";
import { digest, GET, HEAD, proxyOf, TTL_MS, tag, world } from "./fixture.js";

const NAME = "library/app";

async function setUp(t: Parameters<typeof world>[0]) {
  const w = await world(t);
  const upstream = new FakeUpstream();
  const v1 = upstream.putImage(NAME, "latest", ["one"]);
  const v2 = upstream.putImage(NAME, undefined, ["two"]);
  return { w, upstream, v1, v2, proxy: proxyOf(w, upstream) };
}

describe("proxy tags: the TTL", () => {
  test("a tag within its TTL is served from the store without asking upstream, even if it moved there", async (t) => {
    const { w, upstream, v1, v2, proxy } = await setUp(t);
    const first = await proxy.getManifest(NAME, tag("latest"), GET);
    assert.deepEqual([first.digest, first.cache], [v1.digest, "miss"]);
    assert.deepEqual(first.bytes, v1.bytes);
    const asked = upstream.requests.length;
    upstream.tag(NAME, "latest", v2.digest);
    w.clock.advance(TTL_MS - 1);
    for (const request of [GET, HEAD]) {
      const again = await proxy.getManifest(NAME, tag("latest"), request);
      assert.deepEqual([again.digest, again.cache], [v1.digest, "hit"]);
    }
    assert.equal(upstream.requests.length, asked, "upstream was not asked within the TTL");
  });

  test("after the TTL an unchanged tag is revalidated with one HEAD and no GET, and trusted again", async (t) => {
    const { w, upstream, v1, proxy } = await setUp(t);
    await proxy.getManifest(NAME, tag("latest"), GET);
    w.clock.advance(TTL_MS);
    const heads = upstream.count("HEAD");
    const gets = upstream.count("GET");
    const revalidated = await proxy.getManifest(NAME, tag("latest"), GET);
    assert.deepEqual([revalidated.digest, revalidated.cache], [v1.digest, "revalidated"]);
    assert.deepEqual(revalidated.bytes, v1.bytes);
    assert.equal(upstream.count("HEAD"), heads + 1);
    assert.equal(upstream.count("HEAD", "/manifests/latest"), 1);
    assert.equal(upstream.count("GET"), gets, "no GET for an unchanged tag");
    // The HEAD renewed the TTL from now.
    w.clock.advance(TTL_MS - 1);
    assert.equal((await proxy.getManifest(NAME, tag("latest"), GET)).cache, "hit");
    assert.equal(upstream.count("HEAD"), heads + 1);
  });

  test("concurrent requests for an expired tag share one HEAD", async (t) => {
    const { w, upstream, proxy } = await setUp(t);
    await proxy.getManifest(NAME, tag("latest"), GET);
    w.clock.advance(TTL_MS);
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => proxy.getManifest(NAME, tag("latest"), GET)),
    );
    assert.ok(answers.every((answer) => answer.cache === "revalidated"));
    assert.equal(upstream.count("HEAD", "/manifests/latest"), 1);
  });

  test("a moved tag costs one GET, by the new digest, once the TTL has passed", async (t) => {
    const { w, upstream, v1, v2, proxy } = await setUp(t);
    assert.equal((await proxy.getManifest(NAME, tag("latest"), GET)).digest, v1.digest);
    upstream.tag(NAME, "latest", v2.digest);
    w.clock.advance(TTL_MS);
    const tagGets = upstream.count("GET", "/manifests/latest");
    const moved = await proxy.getManifest(NAME, tag("latest"), GET);
    assert.deepEqual([moved.digest, moved.cache], [v2.digest, "miss"]);
    assert.deepEqual(moved.bytes, v2.bytes);
    assert.equal(upstream.count("GET", `/manifests/${v2.digest}`), 1, "one GET by digest");
    assert.equal(upstream.count("GET", "/manifests/latest"), tagGets, "no GET by tag");
    // Moving back to content already stored costs the HEAD alone.
    upstream.tag(NAME, "latest", v1.digest);
    w.clock.advance(TTL_MS);
    const gets = upstream.count("GET");
    const back = await proxy.getManifest(NAME, tag("latest"), GET);
    assert.deepEqual([back.digest, back.cache], [v1.digest, "hit"]);
    assert.equal(upstream.count("GET"), gets);
  });

  test("TTL 0: every request revalidates, and a move is seen at once", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    const v1 = upstream.putImage(NAME, "latest", ["one"]);
    const v2 = upstream.putImage(NAME, undefined, ["two"]);
    const proxy = proxyOf(w, upstream, { tagTtlMs: 0 });
    await proxy.getManifest(NAME, tag("latest"), GET);
    assert.equal((await proxy.getManifest(NAME, tag("latest"), GET)).cache, "revalidated");
    upstream.tag(NAME, "latest", v2.digest);
    assert.equal((await proxy.getManifest(NAME, tag("latest"), HEAD)).digest, v2.digest);
    assert.equal((await proxy.getManifest(NAME, tag("latest"), GET)).digest, v2.digest);
    upstream.tag(NAME, "latest", v1.digest);
    assert.equal((await proxy.getManifest(NAME, tag("latest"), HEAD)).digest, v1.digest);
  });

  test("a tag deleted upstream is forgotten: not found, and not served stale later", async (t) => {
    const { w, upstream, proxy } = await setUp(t);
    await proxy.getManifest(NAME, tag("latest"), GET);
    upstream.untag(NAME, "latest");
    w.clock.advance(TTL_MS);
    await assert.rejects(proxy.getManifest(NAME, tag("latest"), GET), (error: unknown) => {
      assert.ok(error instanceof NotFoundError, String(error));
      assert.equal(error.what, "manifest");
      assert.ok(error.cause instanceof UpstreamError);
      return true;
    });
    assert.equal(await w.meta.getTag("hub", NAME, "latest"), undefined);
    upstream.fail({ kind: "down" });
    await assert.rejects(
      proxy.getManifest(NAME, tag("latest"), GET),
      (error: unknown) => error instanceof UpstreamError && error.kind === "unavailable",
    );
  });
});

describe("proxy tags: a HEAD first", () => {
  test("a HEAD for an unknown tag is answered from an upstream HEAD, and the tag is remembered", async (t) => {
    const { w, upstream, v1, proxy } = await setUp(t);
    const head = await proxy.getManifest(NAME, tag("latest"), HEAD);
    assert.deepEqual([head.digest, head.cache, head.bytes], [v1.digest, "miss", undefined]);
    assert.equal(head.size, v1.bytes.byteLength);
    assert.deepEqual([upstream.count("HEAD"), upstream.count("GET")], [1, 0]);
    assert.equal((await w.meta.getTag("hub", NAME, "latest"))?.digest, v1.digest);
    // The GET that follows (dockerd's HEAD-then-GET) fetches by digest: one counted pull in all.
    const got = await proxy.getManifest(NAME, tag("latest"), GET);
    assert.deepEqual([got.digest, got.cache], [v1.digest, "miss"]);
    assert.equal(upstream.count("GET", `/manifests/${v1.digest}`), 1);
    assert.equal(upstream.count("GET", "/manifests/latest"), 0);
    // Now stored: it resolves with the upstream gone.
    upstream.fail({ kind: "down" });
    assert.equal((await proxy.getManifest(NAME, tag("latest"), GET)).cache, "hit");
  });

  test("a tag learnt from a HEAD and never fetched: another HEAD within the TTL asks upstream again", async (t) => {
    const { upstream, v1, proxy } = await setUp(t);
    await proxy.getManifest(NAME, tag("latest"), HEAD);
    const again = await proxy.getManifest(NAME, tag("latest"), HEAD);
    // Only the upstream can answer it: the tag is revalidated, then its digest asked for, all HEADs.
    assert.deepEqual([again.digest, again.cache, again.bytes], [v1.digest, "miss", undefined]);
    assert.equal(upstream.count("HEAD", "/manifests/latest"), 2);
    assert.equal(upstream.count("HEAD", `/manifests/${v1.digest}`), 1);
    assert.equal(upstream.count("GET"), 0);
  });

  test("a HEAD by digest that is not cached is answered by a HEAD upstream, never a GET", async (t) => {
    const { upstream, v1, proxy } = await setUp(t);
    const head = await proxy.getManifest(NAME, digest(v1.digest), HEAD);
    assert.deepEqual([head.digest, head.cache], [v1.digest, "miss"]);
    assert.deepEqual([upstream.count("HEAD"), upstream.count("GET")], [1, 0]);
  });

  test("a manifest by digest is fetched once and then served from the store, upstream gone", async (t) => {
    const { upstream, v2, proxy } = await setUp(t);
    const got = await Promise.all([1, 2, 3].map(() => proxy.getManifest(NAME, digest(v2.digest), GET)));
    assert.ok(got.every((answer) => answer.cache === "miss" && answer.bytes?.equals(v2.bytes)));
    assert.equal(upstream.count("GET", `/manifests/${v2.digest}`), 1, "concurrent GETs share one");
    upstream.fail({ kind: "down" });
    const again = await proxy.getManifest(NAME, digest(v2.digest), GET);
    assert.deepEqual([again.cache, again.mediaType], ["hit", v2.mediaType]);
    assert.deepEqual(again.bytes, v2.bytes);
  });

  test("a single-component name is asked for under library/ when the proxy stands for Docker Hub", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    const image = upstream.putImage(NAME, "latest", ["one"]);
    const proxy = proxyOf(w, upstream, { libraryPrefix: true });
    assert.equal((await proxy.getManifest("app", tag("latest"), GET)).digest, image.digest);
    assert.equal(upstream.count("GET", `/v2/${NAME}/manifests/latest`), 1);
    // The same content under both spellings.
    assert.equal((await proxy.getManifest(NAME, tag("latest"), GET)).cache, "hit");
  });
});
