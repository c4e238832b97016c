// A proxy's blobs in-process: a miss is one upstream GET however many ask at once (invariant 3), a
// hit never asks upstream, a corrupt or cut download stores nothing (invariant 1), ranges select
// the right bytes whether the blob is downloading or stored.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { describe, test } from "node:test";
import { toOciError } from "../../src/http/error-mapping.js";
import { NotFoundError, RangeNotSatisfiableError } from "../../src/util/errors.js";
import { FakeUpstream } from "../fakes/fake-upstream.js";
import { bytesOf, downloadEnded, eventually, proxyOf, range, world } from "./fixture.js";

const NAME = "library/app";
/** Several of the fake's 64 KiB chunks, and past the download's in-memory window when doubled. */
const BIG = Buffer.alloc(300 * 1024, "wharf ");

async function setUp(t: Parameters<typeof world>[0], bytes = BIG) {
  const w = await world(t);
  const upstream = new FakeUpstream();
  const blob = upstream.putBlob(NAME, bytes);
  return { w, upstream, blob, proxy: proxyOf(w, upstream) };
}

describe("proxy blobs", () => {
  test("a miss is fetched once: concurrent callers share one upstream GET, then it is a hit", async (t) => {
    const { w, upstream, blob, proxy } = await setUp(t);
    const release = upstream.holdBlobs();
    const opened = await Promise.all(Array.from({ length: 5 }, () => proxy.openBlob(NAME, blob)));
    assert.ok(opened.every((content) => content.cache === "miss" && content.size === BIG.byteLength));
    release();
    for (const received of await Promise.all(opened.map(bytesOf))) assert.ok(received.equals(BIG));
    assert.equal(upstream.count("GET", `/blobs/${blob}`), 1);
    assert.equal((await downloadEnded(w, blob)).msg, "blob fetched from upstream");
    assert.ok(await w.meta.hasBlob("hub", NAME, blob), "linked to this repository and name");
    // A hit never asks upstream, even when it is down.
    upstream.fail({ kind: "down" });
    const hit = await proxy.openBlob(NAME, blob);
    assert.equal(hit.cache, "hit");
    assert.ok((await bytesOf(hit)).equals(BIG));
    assert.deepEqual(await proxy.statBlob(NAME, blob), {
      size: BIG.byteLength,
      cache: "hit",
      servedBy: "hub",
    });
    assert.equal(upstream.requests.length, 1);
  });

  test("a stat of a blob not cached asks with a HEAD, never a GET, and stores nothing", async (t) => {
    const { w, upstream, blob, proxy } = await setUp(t);
    assert.deepEqual(await proxy.statBlob(NAME, blob), {
      size: BIG.byteLength,
      cache: "miss",
      servedBy: "hub",
    });
    assert.deepEqual([upstream.count("HEAD"), upstream.count("GET")], [1, 0]);
    assert.equal(await w.blobs.stat(blob), undefined);
  });

  test("a blob upstream does not have is a NotFoundError of the blob, and leaves no staging file", async (t) => {
    const { w, proxy } = await setUp(t);
    const missing = `sha256:${"0".repeat(64)}`;
    for (const attempt of [() => proxy.openBlob(NAME, missing), () => proxy.statBlob(NAME, missing)]) {
      await assert.rejects(attempt(), (error: unknown) => {
        assert.ok(error instanceof NotFoundError && error.what === "blob", String(error));
        assert.equal(toOciError(error)?.code, "BLOB_UNKNOWN");
        return true;
      });
    }
    // Staging starts while the upstream is asked; its refusal removes what was staged.
    assert.deepEqual(await readdir(w.spool.directory), []);
  });

  const faults = [
    ["corrupt bytes", { kind: "corrupt" }, "upstream sent corrupt content; nothing was cached"],
    [
      "a connection cut mid-blob",
      { kind: "cut", after: 100 * 1024 },
      "upstream failed mid-blob; nothing was cached",
    ],
  ] as const;
  for (const [why, fault, line] of faults) {
    test(`${why}: the reader fails, nothing is stored, the next request downloads again`, async (t) => {
      const { w, upstream, blob, proxy } = await setUp(t);
      upstream.faultBlob(blob, fault);
      const content = await proxy.openBlob(NAME, blob);
      await assert.rejects(bytesOf(content));
      assert.equal((await downloadEnded(w, blob)).msg, line);
      assert.equal(await w.blobs.stat(blob), undefined, "nothing in the store");
      assert.equal(await w.meta.hasBlob("hub", NAME, blob), false, "nothing linked");
      assert.equal(w.blobs.volume.staging.size, 0, "nothing left staged");
      upstream.faultBlob(blob, undefined);
      assert.ok((await bytesOf(await proxy.openBlob(NAME, blob))).equals(BIG));
      assert.equal(upstream.count("GET", `/blobs/${blob}`), 2);
    });
  }

  test("ranges: the selected bytes of a download in progress and of a stored blob", async (t) => {
    const { w, blob, proxy } = await setUp(t);
    const downloading = await proxy.openBlob(NAME, blob, range(70_000, 70_009));
    assert.deepEqual([downloading.cache, downloading.range], ["miss", { start: 70_000, end: 70_009 }]);
    assert.ok((await bytesOf(downloading)).equals(BIG.subarray(70_000, 70_010)));
    await downloadEnded(w, blob);
    const stored = await proxy.openBlob(NAME, blob, { kind: "suffix", length: 5 });
    assert.deepEqual(
      [stored.cache, stored.range],
      ["hit", { start: BIG.byteLength - 5, end: BIG.byteLength - 1 }],
    );
    assert.ok((await bytesOf(stored)).equals(BIG.subarray(-5)));
    await assert.rejects(proxy.openBlob(NAME, blob, range(BIG.byteLength)), (error: unknown) => {
      assert.ok(error instanceof RangeNotSatisfiableError && error.size === BIG.byteLength, String(error));
      assert.equal(toOciError(error)?.headers["content-range"], `bytes */${BIG.byteLength}`);
      return true;
    });
  });

  test("an unsatisfiable range on a miss is refused, and the download it started still completes", async (t) => {
    const { w, upstream, blob, proxy } = await setUp(t);
    await assert.rejects(proxy.openBlob(NAME, blob, range(BIG.byteLength + 10)), RangeNotSatisfiableError);
    assert.equal((await downloadEnded(w, blob)).msg, "blob fetched from upstream");
    assert.equal((await proxy.openBlob(NAME, blob)).cache, "hit");
    assert.equal(upstream.count("GET", `/blobs/${blob}`), 1);
  });

  test("between the commit and the link, a GET joins the download and a HEAD answers from it: nothing asks upstream again", async (t) => {
    const { w, upstream, blob, proxy } = await setUp(t);
    // The link waits until let through: the blob's file is in the store, not yet this name's.
    let letThrough = () => {};
    const linking = new Promise<void>((resolve) => {
      letThrough = resolve;
    });
    const link = w.meta.linkBlob.bind(w.meta);
    w.meta.linkBlob = async (...args) => {
      await linking;
      return link(...args);
    };
    assert.ok((await bytesOf(await proxy.openBlob(NAME, blob))).equals(BIG));
    await eventually("the blob is committed", async () => (await w.blobs.stat(blob)) !== undefined);
    assert.equal(await w.meta.hasBlob("hub", NAME, blob), false);
    assert.deepEqual(await proxy.statBlob(NAME, blob), {
      size: BIG.byteLength,
      cache: "hit",
      servedBy: "hub",
    });
    const second = proxy.openBlob(NAME, blob);
    letThrough();
    assert.ok((await bytesOf(await second)).equals(BIG));
    assert.deepEqual([upstream.count("HEAD"), upstream.count("GET", `/blobs/${blob}`)], [0, 1]);
    await eventually("the blob is linked", () => w.meta.hasBlob("hub", NAME, blob));
  });
});
