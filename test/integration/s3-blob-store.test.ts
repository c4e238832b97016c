// S3BlobStore on a real Ceph RGW: the blob store and upload session suites every store passes, then
// what is particular to object storage: parts sent while the bytes arrive, compositions of upload
// sessions from segments of every size, the sweep of stale multipart uploads, presigned redirects,
// and a session continued by another node.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { describe, type TestContext, test } from "node:test";
import { SqliteMetadataStore } from "../../src/meta/sqlite-metadata-store.js";
import { digestOf, parseDigest } from "../../src/oci/digest.js";
import { bytesOf } from "../../src/store/blob-body.js";
import { appendAll } from "../../src/store/blob-writer.js";
import { S3BlobStore, type S3BlobStoreOptions } from "../../src/store/s3-blob-store.js";
import { S3Objects } from "../../src/store/s3-objects.js";
import { Spool } from "../../src/store/spool.js";
import { StagedUploadSessions } from "../../src/store/staged-upload-sessions.js";
import { ManualClock } from "../fakes/manual-clock.js";
import { cephRgw, s3Prefix } from "../harness/backends/ceph-rgw.js";
import { blobStoreConformance } from "../suites/blob-store.suite.js";
import { uploadSessionsConformance } from "../suites/upload-sessions.suite.js";
import { tempDir } from "../unit/helpers.js";
import { chunksOf, MiB, pseudoRandomBytes } from "../unit/store-helpers.js";

const PART = 5 * MiB;

interface S3Fixture {
  readonly objects: S3Objects;
  readonly store: S3BlobStore;
  /** A new store over the same bucket, prefix and spool, as after a restart. */
  reopen(): Promise<S3BlobStore>;
  /** Another store over the same bucket and prefix with a spool of its own: a second node. */
  open(options?: Partial<S3BlobStoreOptions>): Promise<S3BlobStore>;
  /** Multipart uploads, session objects and every node's spool files: gone once every writer ended. */
  staged(): Promise<string[]>;
}

async function s3Fixture(t: TestContext, options: Partial<S3BlobStoreOptions> = {}): Promise<S3Fixture> {
  const objects = new S3Objects({ ...cephRgw(), prefix: s3Prefix("blob-store") });
  t.after(() => objects.close());
  const root = await tempDir(t, "s3-store");
  const spools: Spool[] = [];
  const newSpool = async () => {
    const spool = new Spool(join(root, `tmp-${spools.length}`));
    await spool.init();
    spools.push(spool);
    return spool;
  };
  const make = (spool: Spool, more: Partial<S3BlobStoreOptions> = {}) =>
    new S3BlobStore({
      objects,
      spool,
      redirect: false,
      partBytes: PART,
      segmentBytes: PART,
      ...options,
      ...more,
    });
  const first = await newSpool();
  return {
    objects,
    store: make(first),
    reopen: async () => make(first),
    open: async (more = {}) => make(await newSpool(), more),
    async staged() {
      const files = await Promise.all(spools.map((spool) => readdir(spool.directory)));
      return [
        ...files.flat(),
        ...(await names(objects.multipartUploads())).map((upload) => `multipart ${upload.name}`),
        ...(await names(objects.list("uploads/"))).map((object) => object.name),
      ];
    },
  };
}

/** The segment objects of an upload session (not its marker). */
async function segmentsOf(fixture: S3Fixture, id: string): Promise<Array<{ name: string; size: number }>> {
  return (await names(fixture.objects.list(`uploads/${id}/`))).filter((object) =>
    /\/s\d+$/.test(object.name),
  );
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  for (const started = Date.now(); !(await condition()); ) {
    if (Date.now() - started > timeoutMs) throw new Error("the condition did not come true in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function names<T>(items: AsyncIterable<T>): Promise<T[]> {
  const found: T[] = [];
  for await (const item of items) found.push(item);
  return found;
}

blobStoreConformance("S3BlobStore on Ceph RGW", async (t) => {
  const fixture = await s3Fixture(t);
  // A restart keeps the local spool (the sweep then empties it), as the filesystem store does.
  return { store: fixture.store, bodyKind: "stream", reopen: fixture.reopen, staged: fixture.staged };
});

uploadSessionsConformance("StagedUploadSessions over S3BlobStore on Ceph RGW", async (t, limits) => {
  const meta = new SqliteMetadataStore(":memory:");
  t.after(() => meta.close());
  const clock = new ManualClock();
  const fixture = await s3Fixture(t);
  const sessions = () => new StagedUploadSessions({ meta, blobs: fixture.store, limits, clock });
  return { sessions: sessions(), blobs: fixture.store, clock, restart: sessions, staged: fixture.staged };
});

describe("S3BlobStore: what object storage adds", () => {
  const BIG = pseudoRandomBytes(3 * PART + 12_345, 31);
  const BIG_DIGEST = digestOf(BIG);

  test("with the digest expected, full parts go up while bytes arrive; nothing shows before the commit", async (t) => {
    const fixture = await s3Fixture(t);
    const writer = await fixture.store.begin(BIG_DIGEST);
    for (const chunk of chunksOf(BIG, 1 * MiB)) await appendAll(writer, chunk);
    // The parts leave behind the appends: the upload appears in the bucket soon after.
    const key = `blobs/sha256/${parseDigest(BIG_DIGEST).hex}`;
    await waitFor(async () =>
      (await names(fixture.objects.multipartUploads())).some((upload) => upload.name === key),
    );
    assert.equal(
      (await names(fixture.objects.multipartUploads())).length,
      1,
      "one multipart upload, under the blob's key",
    );
    assert.equal(
      await fixture.store.stat(BIG_DIGEST),
      undefined,
      "an unfinished multipart upload is not a blob",
    );
    assert.deepEqual(await names(fixture.store.digests()), []);
    await writer.commit(BIG_DIGEST);
    assert.ok((await bytesOf(await fixture.store.read(BIG_DIGEST))).equals(BIG));
    const range = { start: PART - 3, end: 2 * PART + 3 };
    assert.ok(
      (await bytesOf(await fixture.store.read(BIG_DIGEST, range))).equals(
        BIG.subarray(range.start, range.end + 1),
      ),
    );
    assert.deepEqual(await fixture.staged(), []);
  });

  test("a commit of another digest than the expected one stores that digest, and the parts already sent go", async (t) => {
    const fixture = await s3Fixture(t);
    const other = Buffer.concat([BIG, Buffer.from("!")]);
    const writer = await fixture.store.begin(BIG_DIGEST);
    await appendAll(writer, other);
    await writer.commit(digestOf(other));
    assert.equal(await fixture.store.stat(BIG_DIGEST), undefined);
    assert.ok((await bytesOf(await fixture.store.read(digestOf(other)))).equals(other));
    assert.deepEqual(await fixture.staged(), []);
  });

  test("an abort after parts went up leaves no multipart upload and no object", async (t) => {
    const fixture = await s3Fixture(t);
    const writer = await fixture.store.begin(BIG_DIGEST);
    await appendAll(writer, BIG);
    await writer.abort();
    assert.equal(await fixture.store.stat(BIG_DIGEST), undefined);
    assert.deepEqual(await fixture.staged(), []);
  });

  test("a crashed writer's multipart upload is aborted by a sweep once stale, never while another node may still use it", async (t) => {
    const fixture = await s3Fixture(t, { staleUploadMs: 60_000 });
    const crashed = await fixture.store.begin(BIG_DIGEST);
    await appendAll(crashed, BIG);
    // The process dies here; its parts wait in the bucket.
    await waitFor(async () => (await names(fixture.objects.multipartUploads())).length === 1);
    const soon = await fixture.open();
    assert.equal(await soon.abortStaleUploads(), 0, "a fresh multipart upload may belong to a live writer");
    assert.equal((await names(fixture.objects.multipartUploads())).length, 1);
    const later = await fixture.open({ now: () => Date.now() + 61_000 });
    assert.ok((await later.sweepStaging()) >= 1);
    assert.deepEqual(await names(fixture.objects.multipartUploads()), []);
    assert.equal(await later.stat(BIG_DIGEST), undefined);
    await crashed.abort();
    assert.deepEqual(await fixture.staged(), []);
  });

  test("a session of segments of every size composes byte-exact: small ones re-uploaded, large ones copied", async (t) => {
    const fixture = await s3Fixture(t);
    // Patches as clients send them: a big one (two segments), a byte, one just over a part, a few bytes, one of 8 MiB.
    const patches = [2 * PART + 7, 1, PART + 1, 3, 8 * MiB, 999].map((size, index) =>
      pseudoRandomBytes(size, 40 + index),
    );
    const whole = Buffer.concat(patches);
    const id = "7b0e5d8c-2f4a-4c7e-9a51-0c1d2e3f4a5c";
    await fixture.store.sessions.create(id);
    let offset = 0;
    for (const patch of patches) {
      const writer = await fixture.store.sessions.resume(id, offset);
      for (const chunk of chunksOf(patch, 256 * 1024)) await appendAll(writer, chunk);
      await writer.suspend();
      offset += patch.byteLength;
    }
    const segments = (await segmentsOf(fixture, id)).length;
    assert.ok(
      segments >= patches.length + 1,
      `the long patch made more than one segment (${segments} in all)`,
    );
    const writer = await fixture.store.sessions.resume(id, offset);
    await writer.commit(digestOf(whole));
    assert.ok((await bytesOf(await fixture.store.read(digestOf(whole)))).equals(whole));
    assert.deepEqual(await fixture.staged(), []);
  });

  test("a session's chunks may each reach another node: the bytes are in the bucket, not on the node", async (t) => {
    const fixture = await s3Fixture(t);
    const meta = new SqliteMetadataStore(":memory:");
    t.after(() => meta.close());
    const limits = { maxBytes: 100 * MiB };
    const nodes = [fixture.store, await fixture.open(), await fixture.open()].map(
      (blobs) => new StagedUploadSessions({ meta, blobs, limits }),
    );
    const blob = pseudoRandomBytes(PART + 100_000, 51);
    const chunks = [blob.subarray(0, 1000), blob.subarray(1000, PART), blob.subarray(PART)];
    let upload = await (nodes[0] as StagedUploadSessions).create("internal", "team/app");
    for (const [index, chunk] of chunks.slice(0, 2).entries()) {
      upload = await (nodes[index] as StagedUploadSessions).append(upload, Readable.from([chunk]), {
        start: upload.offset,
      });
    }
    const last = nodes[2] as StagedUploadSessions;
    await last.finish(upload, parseDigest(digestOf(blob)), Readable.from([chunks[2] as Buffer]), {
      start: upload.offset,
    });
    assert.ok((await bytesOf(await fixture.store.read(digestOf(blob)))).equals(blob));
    assert.deepEqual(await fixture.staged(), []);
  });

  test("a PATCH cut mid-way keeps what arrived, stored as a segment before the offset counts it", async (t) => {
    const fixture = await s3Fixture(t);
    const meta = new SqliteMetadataStore(":memory:");
    t.after(() => meta.close());
    const sessions = new StagedUploadSessions({
      meta,
      blobs: fixture.store,
      limits: { maxBytes: 100 * MiB },
    });
    const upload = await sessions.create("internal", "team/app");
    const body = new PassThrough();
    const writing = sessions.append(upload, body, {});
    body.write(BIG.subarray(0, 70_000));
    await new Promise((resolve) => setTimeout(resolve, 50));
    body.destroy(new Error("connection reset by peer"));
    await assert.rejects(writing, /connection reset/);
    const recorded = (await meta.getUpload(upload.id))?.offset;
    assert.equal(recorded, 70_000);
    const stored = await segmentsOf(fixture, upload.id);
    assert.deepEqual(
      stored.map((object) => object.size),
      [70_000],
    );
    await sessions.cancel(upload);
    assert.deepEqual(await fixture.staged(), []);
  });

  test("with redirect on, a blob GET gets a presigned URL any client can read, ranges included", async (t) => {
    const fixture = await s3Fixture(t, { redirect: true });
    const blob = pseudoRandomBytes(100_000, 61);
    const writer = await fixture.store.begin();
    await appendAll(writer, blob);
    await writer.commit(digestOf(blob));
    const url = (await fixture.store.directUrl(digestOf(blob))) ?? "";
    assert.ok(url.startsWith("http://127.0.0.1:"), `a URL on the store's endpoint: ${url}`);
    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(blob));
    const ranged = await fetch(url, { headers: { range: "bytes=10-19" } });
    assert.equal(ranged.status, 206);
    assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(blob.subarray(10, 20)));
    const plain = await s3Fixture(t);
    assert.equal(await plain.store.directUrl(digestOf(blob)), undefined, "off by default");
  });
});
