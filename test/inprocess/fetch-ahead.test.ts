// Layers fetched ahead, in-process: a manifest fetched upstream starts its image's blobs through
// the same coalescing and verification as a client's request (one GET per blob, nothing
// unverified served or kept), a few at a time; it stops when the upstream fails, when the store
// has no room, when the client goes away or wharf stops, and leaves nothing behind when cancelled.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { describe, test } from "node:test";
import type { FetchAheadSettings } from "../../src/repos/fetch-ahead.js";
import type { BlobStore } from "../../src/store/blob-store.js";
import { Coalescer } from "../../src/store/coalescer.js";
import { FakeUpstream, type PushedImage } from "../fakes/fake-upstream.js";
import {
  bytesOf,
  digest,
  eventually,
  GET,
  type ProxySettings,
  proxyOf,
  tag,
  type World,
  world,
} from "./fixture.js";

const NAME = "library/app";
const LAYERS = 6;
/** Several of the fake's 64 KiB chunks per layer, each layer different. */
const layers = (count = LAYERS, of = "app") =>
  Array.from({ length: count }, (_, i) => `${of} layer ${i} `.repeat(30_000 + i));
const AHEAD: FetchAheadSettings = { concurrency: 2, idleMs: 30_000 };

async function setUp(t: Parameters<typeof world>[0], settings: ProxySettings = {}) {
  const w = await world(t);
  const upstream = new FakeUpstream();
  const image = upstream.putImage(NAME, "1", layers());
  const proxy = proxyOf(w, upstream, { fetchAhead: AHEAD, ...settings });
  return { w, upstream, image, proxy };
}

/** Every blob of the image: its config, then its layers. */
function blobsOf(image: PushedImage): Array<{ digest: string; bytes?: Buffer }> {
  return [{ digest: image.config }, ...image.layers];
}

const linked = (w: World, blob: string) => w.meta.hasBlob("hub", NAME, blob);

/** Nothing staged, spooled or in flight: what a download that was not kept must leave. */
async function nothingLeft(w: World): Promise<void> {
  await eventually("nothing left behind", async () => {
    const spooled = await readdir(w.spool.directory);
    return w.blobs.volume.staging.size === 0 && spooled.length === 0 && w.coalescer.inflight === 0;
  });
}

describe("fetch-ahead", () => {
  test("a manifest fetched upstream starts its blobs; each blob is fetched once, whoever asks", async (t) => {
    const { w, upstream, image, proxy } = await setUp(t);
    const release = upstream.holdBlobs();
    await proxy.getManifest(NAME, tag("1"), GET);
    // Two at a time: the config and the first layer run, the rest wait.
    await eventually("two downloads running", () => proxy.fetchingAhead.running === 2);
    assert.equal(proxy.fetchingAhead.queued, LAYERS + 1 - 2);
    // A client asking for the last layer does not wait for a slot: it starts its own download.
    const last = image.layers.at(-1) as { digest: string; bytes: Buffer };
    const asked = await proxy.openBlob(NAME, last.digest);
    assert.equal(asked.cache, "miss");
    release();
    assert.ok((await bytesOf(asked)).equals(last.bytes));
    for (const blob of blobsOf(image))
      await eventually(`${blob.digest} linked`, () => linked(w, blob.digest));
    await eventually("fetching ahead idle", () => proxy.fetchingAhead.running === 0);
    // Clients now find every blob stored: none is fetched a second time.
    for (const layer of image.layers) {
      const content = await proxy.openBlob(NAME, layer.digest);
      assert.equal(content.cache, "hit");
      assert.ok((await bytesOf(content)).equals(layer.bytes));
    }
    for (const blob of blobsOf(image)) assert.equal(upstream.count("GET", `/blobs/${blob.digest}`), 1);
    const fetchedAhead = w.logs.filter((line) => line.msg === "blob fetched from upstream" && line.ahead);
    assert.equal(fetchedAhead.length, LAYERS, "every blob but the one the client asked for first");
  });

  test("a client reading a blob being fetched ahead gets the verified bytes, from that one download", async (t) => {
    const { w, upstream, image, proxy } = await setUp(t);
    const release = upstream.holdBlobs();
    await proxy.getManifest(NAME, tag("1"), GET);
    await eventually("two downloads running", () => proxy.fetchingAhead.running === 2);
    const first = image.layers[0] as { digest: string; bytes: Buffer };
    const joined = await proxy.openBlob(NAME, first.digest);
    // Stopping cancels only what nobody reads: this one has a reader.
    proxy.stopFetchingAhead();
    release();
    assert.ok((await bytesOf(joined)).equals(first.bytes));
    await eventually("linked", () => linked(w, first.digest));
    assert.equal(upstream.count("GET", `/blobs/${first.digest}`), 1);
  });

  test("an index starts nothing; the platform manifest a client asks for does", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    const amd = upstream.putImage(NAME, undefined, layers(2, "amd64"));
    const arm = upstream.putImage(NAME, undefined, layers(3, "arm64"));
    const index = upstream.putIndex(NAME, "multi", [amd, arm]);
    const proxy = proxyOf(w, upstream, { fetchAhead: AHEAD });
    await proxy.getManifest(NAME, tag("multi"), GET);
    assert.equal(proxy.fetchingAhead.running + proxy.fetchingAhead.queued, 0, index.digest);
    await proxy.getManifest(NAME, digest(arm.digest), GET);
    for (const blob of blobsOf(arm)) await eventually("arm blobs linked", () => linked(w, blob.digest));
    for (const blob of blobsOf(amd)) assert.equal(upstream.count("GET", `/blobs/${blob.digest}`), 0);
  });

  test("a warm manifest starts nothing; a revalidated one fetches only what is missing", async (t) => {
    const { w, upstream, image, proxy } = await setUp(t);
    await proxy.getManifest(NAME, tag("1"), GET);
    for (const blob of blobsOf(image)) await eventually("linked", () => linked(w, blob.digest));
    await proxy.getManifest(NAME, tag("1"), GET);
    w.clock.advance(120_000);
    const revalidated = await proxy.getManifest(NAME, tag("1"), GET);
    assert.equal(revalidated.cache, "revalidated");
    await eventually("fetching ahead idle", () => proxy.fetchingAhead.running === 0);
    for (const blob of blobsOf(image)) assert.equal(upstream.count("GET", `/blobs/${blob.digest}`), 1);
  });

  test("a corrupt layer fetched ahead is never served nor kept, and the rest of the image is dropped", async (t) => {
    const { w, upstream, image, proxy } = await setUp(t, { fetchAhead: { concurrency: 1, idleMs: 30_000 } });
    const bad = image.layers[0] as { digest: string; bytes: Buffer };
    upstream.faultBlob(bad.digest, { kind: "corrupt" });
    await proxy.getManifest(NAME, tag("1"), GET);
    await eventually("paused", () =>
      w.logs.some((line) => String(line.msg).startsWith("fetching ahead paused")),
    );
    await eventually("fetching ahead idle", () => proxy.fetchingAhead.running === 0);
    assert.equal(await linked(w, bad.digest), false);
    assert.equal(proxy.fetchingAhead.queued, 0, "the image's other layers are dropped");
    for (const layer of image.layers.slice(1))
      assert.equal(upstream.count("GET", `/blobs/${layer.digest}`), 0);
    await nothingLeft(w);
    // A client's own request still goes upstream, and still never completes with the corrupt bytes.
    await assert.rejects(bytesOf(await proxy.openBlob(NAME, bad.digest)));
    assert.equal(await linked(w, bad.digest), false);
  });

  test("an upstream that fails stops it: no more than its slots are tried, and it pauses", async (t) => {
    const { w, upstream, image, proxy } = await setUp(t);
    const other = upstream.putImage("library/other", "1", layers(3, "other"));
    // Every blob's connection drops before its first byte.
    for (const blob of blobsOf(image)) upstream.faultBlob(blob.digest, { kind: "cut", after: 0 });
    await proxy.getManifest(NAME, tag("1"), GET);
    await eventually("paused", () =>
      w.logs.some((line) => String(line.msg).startsWith("fetching ahead paused")),
    );
    await eventually("fetching ahead idle", () => proxy.fetchingAhead.running === 0);
    const tried = blobsOf(image).reduce((n, blob) => n + upstream.count("GET", `/blobs/${blob.digest}`), 0);
    assert.ok(tried <= AHEAD.concurrency, `${tried} blob GETs`);
    assert.equal(proxy.fetchingAhead.queued, 0);
    // While paused, another image's manifest starts nothing.
    await proxy.getManifest("library/other", tag("1"), GET);
    assert.equal(proxy.fetchingAhead.running + proxy.fetchingAhead.queued, 0);
    for (const blob of blobsOf(other)) assert.equal(upstream.count("GET", `/blobs/${blob.digest}`), 0);
    await nothingLeft(w);
    // After the pause it fetches ahead again.
    w.clock.advance(31_000);
    w.clock.advance(0);
    upstream.putImage("library/third", "1", layers(1, "third"));
    await proxy.getManifest("library/third", tag("1"), GET);
    assert.ok(proxy.fetchingAhead.running + proxy.fetchingAhead.queued > 0);
  });

  test("no room in the store: nothing is fetched ahead", async (t) => {
    const asked: Array<[string, number]> = [];
    const { upstream, image, proxy } = await setUp(t, {
      aheadRoom: (repo, bytes) => {
        asked.push([repo, bytes]);
        return false;
      },
    });
    await proxy.getManifest(NAME, tag("1"), GET);
    await eventually("queue dropped", () => proxy.fetchingAhead.queued + proxy.fetchingAhead.running === 0);
    for (const blob of blobsOf(image)) assert.equal(upstream.count("GET", `/blobs/${blob.digest}`), 0);
    assert.equal(asked.length, LAYERS + 1);
    assert.ok(asked.every(([repo, bytes]) => repo === "hub" && bytes > 0));
  });

  test("a disk that cannot stage: the downloads nobody reads end at once, nothing kept", async (t) => {
    const w = await world(t);
    const full: BlobStore = Object.create(w.blobs, {
      begin: { value: () => Promise.reject(Object.assign(new Error("no space"), { code: "ENOSPC" })) },
    });
    const upstream = new FakeUpstream();
    const image = upstream.putImage(NAME, "1", layers());
    const proxy = proxyOf(w, upstream, {
      fetchAhead: AHEAD,
      coalescer: new Coalescer(full, w.spool, { ingests: w.ingests }),
    });
    await proxy.getManifest(NAME, tag("1"), GET);
    await eventually(
      "fetching ahead idle",
      () => proxy.fetchingAhead.running + proxy.fetchingAhead.queued === 0,
    );
    for (const blob of blobsOf(image)) assert.equal(await linked(w, blob.digest), false);
    assert.ok(blobsOf(image).every((blob) => upstream.count("GET", `/blobs/${blob.digest}`) <= 1));
    await nothingLeft(w);
  });

  test("the client went away: what runs for nobody is cancelled, the queue dropped, nothing left", async (t) => {
    const { w, upstream, image, proxy } = await setUp(t, { fetchAhead: { concurrency: 2, idleMs: 200 } });
    const release = upstream.holdBlobs();
    await proxy.getManifest(NAME, tag("1"), GET);
    await eventually("two downloads running", () => proxy.fetchingAhead.running === 2);
    w.clock.advance(1_000);
    await eventually("cancelled", () => proxy.fetchingAhead.running + proxy.fetchingAhead.queued === 0);
    release();
    assert.equal(w.logs.filter((line) => line.msg === "download cancelled; nothing was cached").length, 2);
    for (const blob of blobsOf(image)) assert.equal(await linked(w, blob.digest), false);
    const tried = blobsOf(image).reduce((n, blob) => n + upstream.count("GET", `/blobs/${blob.digest}`), 0);
    assert.equal(tried, 2);
    await nothingLeft(w);
  });

  test("a client still receiving a blob keeps its image wanted, however long that takes", async (t) => {
    const { w, upstream, image, proxy } = await setUp(t, { fetchAhead: { concurrency: 1, idleMs: 200 } });
    const release = upstream.holdBlobs();
    await proxy.getManifest(NAME, tag("1"), GET);
    const last = image.layers.at(-1) as { digest: string; bytes: Buffer };
    const receiving = await proxy.openBlob(NAME, last.digest);
    w.clock.advance(1_000);
    // Several sweeps pass: the image is still wanted.
    await new Promise((resolve) => setTimeout(resolve, 350));
    assert.equal(proxy.fetchingAhead.running, 1);
    release();
    assert.ok((await bytesOf(receiving)).equals(last.bytes));
    for (const blob of blobsOf(image)) await eventually("linked", () => linked(w, blob.digest));
  });

  test("stopping wharf cancels what runs for nobody and leaves nothing behind", async (t) => {
    const { w, upstream, image, proxy } = await setUp(t);
    const release = upstream.holdBlobs();
    await proxy.getManifest(NAME, tag("1"), GET);
    await eventually("two downloads running", () => proxy.fetchingAhead.running === 2);
    proxy.stopFetchingAhead();
    release();
    await eventually("stopped", () => proxy.fetchingAhead.running + proxy.fetchingAhead.queued === 0);
    for (const blob of blobsOf(image)) assert.equal(await linked(w, blob.digest), false);
    await nothingLeft(w);
    // Clients are served as ever.
    const layer = image.layers[0] as { digest: string; bytes: Buffer };
    assert.ok((await bytesOf(await proxy.openBlob(NAME, layer.digest))).equals(layer.bytes));
  });
});
