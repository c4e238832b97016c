// Range requests on blobs not yet cached, as lazy-pulling snapshotters send them: answered at
// once, never by waiting for the whole blob and never with the whole body. Far from where the
// download is, a ranged GET upstream answers while the whole blob downloads (once) and verifies;
// the bytes sent are compared with the verified blob afterwards.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { FakeUpstream } from "../fakes/fake-upstream.js";
import { bytesOf, downloadEnded, eventually, proxyOf, range, world } from "./fixture.js";

const NAME = "library/app";
const MiB = 1024 * 1024;
/** Big enough that most of it is far from its start. */
const BLOB = randomBytes(6 * MiB);

async function setUp(t: Parameters<typeof world>[0]) {
  const w = await world(t);
  const upstream = new FakeUpstream();
  const blob = upstream.putBlob(NAME, BLOB);
  return { w, upstream, blob, proxy: proxyOf(w, upstream) };
}

describe("ranges of cold blobs", () => {
  test("far into a cold blob: 206 of exactly those bytes at once, while the whole blob downloads once", async (t) => {
    const { w, upstream, blob, proxy } = await setUp(t);
    // The whole blob's download gets its headers but no byte: only the ranged GET can answer.
    const release = upstream.holdBlobs();
    const start = 5 * MiB + 12_345;
    const content = await proxy.openBlob(NAME, blob, range(start, start + 65_535));
    assert.equal(content.cache, "miss");
    assert.deepEqual(content.range, { start, end: start + 65_535 });
    assert.equal(content.size, BLOB.byteLength);
    assert.equal(content.body.kind, "stream");
    assert.ok((await bytesOf(content)).equals(BLOB.subarray(start, start + 65_536)), "the upstream's bytes");
    assert.equal(await w.meta.hasBlob("hub", NAME, blob), false, "still downloading");
    release();
    assert.equal((await downloadEnded(w, blob)).msg, "blob fetched from upstream");
    assert.equal(await content.kept, true);
    assert.ok(await w.meta.hasBlob("hub", NAME, blob), "verified and kept");
    assert.equal(upstream.count("GET", `/blobs/${blob}`), 1, "one download of the whole blob");
    assert.equal(upstream.countRanged(blob), 1);
    assert.ok(!w.logs.some((line) => line.level === 50), "the bytes sent matched the verified blob");
  });

  test("stargz-style: ranges at random offsets, all at once, each exact; one whole download", async (t) => {
    const { w, upstream, blob, proxy } = await setUp(t);
    const release = upstream.holdBlobs();
    const wanted = Array.from({ length: 24 }, () => {
      const start = Math.floor(Math.random() * (BLOB.byteLength - 1));
      return { start, end: Math.min(BLOB.byteLength - 1, start + Math.floor(Math.random() * 200_000)) };
    });
    const answers = await Promise.all(wanted.map((r) => proxy.openBlob(NAME, blob, range(r.start, r.end))));
    release();
    for (const [i, answer] of answers.entries()) {
      const { start, end } = wanted[i] as { start: number; end: number };
      assert.deepEqual(answer.range, { start, end });
      assert.ok((await bytesOf(answer)).equals(BLOB.subarray(start, end + 1)), `bytes ${start}-${end}`);
    }
    await downloadEnded(w, blob);
    await eventually("kept", () => w.meta.hasBlob("hub", NAME, blob));
    assert.equal(upstream.count("GET", `/blobs/${blob}`), 1);
    assert.ok(!w.logs.some((line) => line.level === 50));
  });

  test("near the start, or near where the download is: read from the download, no ranged GET", async (t) => {
    const { w, upstream, blob, proxy } = await setUp(t);
    const near = await proxy.openBlob(NAME, blob, range(1000, 2999));
    assert.equal(near.body.kind, "in-progress");
    assert.ok((await bytesOf(near)).equals(BLOB.subarray(1000, 3000)));
    await downloadEnded(w, blob);
    assert.equal(upstream.countRanged(blob), 0);
    assert.equal(upstream.count("GET", `/blobs/${blob}`), 1);
  });

  test("the last bytes of a cold blob (a suffix range) come from a ranged GET", async (t) => {
    const { w, upstream, blob, proxy } = await setUp(t);
    const release = upstream.holdBlobs();
    const tail = await proxy.openBlob(NAME, blob, { kind: "suffix", length: 100 });
    assert.deepEqual(tail.range, { start: BLOB.byteLength - 100, end: BLOB.byteLength - 1 });
    assert.ok((await bytesOf(tail)).equals(BLOB.subarray(-100)));
    release();
    await downloadEnded(w, blob);
    assert.equal(upstream.countRanged(blob), 1);
  });

  test("an upstream ignoring Range: still a 206 of exactly the bytes, from the download", async (t) => {
    const { w, upstream, blob, proxy } = await setUp(t);
    upstream.answerRanges("ignore");
    const start = 4 * MiB;
    const content = await proxy.openBlob(NAME, blob, range(start, start + 999));
    assert.equal(content.body.kind, "in-progress");
    assert.deepEqual(content.range, { start, end: start + 999 });
    assert.ok((await bytesOf(content)).equals(BLOB.subarray(start, start + 1000)));
    await downloadEnded(w, blob);
    assert.equal(upstream.count("GET", `/blobs/${blob}`), 1);
  });

  test("an upstream whose range disagrees with the blob's digest: the difference is logged once verified", async (t) => {
    const { w, upstream, blob, proxy } = await setUp(t);
    upstream.answerRanges("lie");
    const start = 3 * MiB;
    const content = await proxy.openBlob(NAME, blob, range(start, start + 999));
    await bytesOf(content);
    await downloadEnded(w, blob);
    await eventually("the difference logged", () =>
      w.logs.some(
        (line) => line.msg === "upstream answered a Range with bytes that differ from the verified blob",
      ),
    );
    // The blob itself was verified whole: it is served right.
    const stored = await proxy.openBlob(NAME, blob, range(start, start + 999));
    assert.equal(stored.cache, "hit");
    assert.ok((await bytesOf(stored)).equals(BLOB.subarray(start, start + 1000)));
  });

  test("an unsatisfiable range of a cold blob is refused from the download, which completes", async (t) => {
    const { w, upstream, blob, proxy } = await setUp(t);
    await assert.rejects(proxy.openBlob(NAME, blob, range(BLOB.byteLength + 10)));
    assert.equal((await downloadEnded(w, blob)).msg, "blob fetched from upstream");
    assert.equal(upstream.count("GET", `/blobs/${blob}`), 1);
  });
});
