// The contract of src/store/blob-store.ts, run against every BlobStore: the filesystem store and the
// in-memory one tests use (test/unit/blob-stores.test.ts), object storage when it comes.
import assert from "node:assert/strict";
import { readSync } from "node:fs";
import { describe, type TestContext, test } from "node:test";
import { digestOf } from "../../src/oci/digest.js";
import { OciError } from "../../src/oci/errors.js";
import { bytesOf, type StoredBody } from "../../src/store/blob-body.js";
import type { BlobStore } from "../../src/store/blob-store.js";
import { appendAll } from "../../src/store/blob-writer.js";
import { NotFoundError } from "../../src/util/errors.js";
import { chunksOf, pseudoRandomBytes } from "../unit/store-helpers.js";

export interface BlobStoreFixture {
  readonly store: BlobStore;
  /** The kind of body `read` answers with. */
  readonly bodyKind: StoredBody["kind"];
  /** A new store over the same storage, as after the process ended without closing anything. */
  reopen(): Promise<BlobStore>;
  /** What is staged (scratch and sessions), by any name: empty once every writer ended. */
  staged(): Promise<string[]>;
}

/** Creates an empty store for one test; the test's own after-hooks may clean up its storage. */
export type BlobStoreFactory = (t: TestContext) => Promise<BlobStoreFixture>;

const BLOB = pseudoRandomBytes(2 * 1024 * 1024 + 17, 11);
const DIGEST = digestOf(BLOB);
const OTHER = pseudoRandomBytes(1000, 12);

async function store(blobs: BlobStore, bytes: Buffer, digest = digestOf(bytes)): Promise<void> {
  const writer = await blobs.begin();
  for (const chunk of chunksOf(bytes, 300_000)) await appendAll(writer, chunk);
  await writer.commit(digest);
}

async function listed(blobs: BlobStore): Promise<string[]> {
  const digests: string[] = [];
  for await (const digest of blobs.digests()) digests.push(digest);
  return digests.sort();
}

async function sessionBytes(blobs: BlobStore, id: string, length: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of blobs.sessions.read(id, length)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A NotFoundError for `what`, naming it in its detail. */
function isNotFound(what: string, detail: Record<string, string>) {
  return (error: unknown) => {
    assert.ok(error instanceof NotFoundError, `expected NotFoundError, got ${String(error)}`);
    assert.equal(error.what, what);
    assert.deepEqual(error.detail, detail);
    return true;
  };
}

export function blobStoreConformance(name: string, factory: BlobStoreFactory): void {
  /** Every test ends with nothing staged: a writer the test forgot, or the store leaked, fails it. */
  const storeTest = (title: string, body: (fixture: BlobStoreFixture) => Promise<void>) =>
    test(title, async (t) => {
      const fixture = await factory(t);
      await body(fixture);
      assert.deepEqual(await fixture.staged(), [], "staged objects were left behind");
    });

  describe(`BlobStore conformance: ${name}`, () => {
    storeTest(
      "an absent blob: stat and storedAt are undefined, read rejects with NotFoundError",
      async ({ store: blobs }) => {
        assert.equal(await blobs.stat(DIGEST), undefined);
        assert.equal(await blobs.storedAt(DIGEST), undefined);
        await assert.rejects(blobs.read(DIGEST), isNotFound("blob", { digest: DIGEST }));
        assert.deepEqual(await listed(blobs), []);
      },
    );

    storeTest(
      "a committed blob is stat'ed, listed, dated and read back whole, as the store's body kind",
      async (fixture) => {
        const blobs = fixture.store;
        const before = Date.now();
        await store(blobs, BLOB);
        assert.equal(await blobs.stat(DIGEST), BLOB.byteLength);
        assert.deepEqual(await listed(blobs), [DIGEST]);
        const storedAt = (await blobs.storedAt(DIGEST)) as number;
        assert.ok(Math.abs(storedAt - before) < 60_000, `storedAt ${storedAt} is not about now (${before})`);
        const body = await blobs.read(DIGEST);
        assert.equal(body.kind, fixture.bodyKind);
        assert.ok((await bytesOf(body)).equals(BLOB));
      },
    );

    const ranges: ReadonlyArray<readonly [string, { start: number; end: number }]> = [
      ["the first byte", { start: 0, end: 0 }],
      ["a middle slice across read chunks", { start: 1024 * 1024 - 5, end: 2 * 1024 * 1024 + 5 }],
      ["the last byte", { start: BLOB.byteLength - 1, end: BLOB.byteLength - 1 }],
      ["the whole blob", { start: 0, end: BLOB.byteLength - 1 }],
    ];
    for (const [why, range] of ranges) {
      storeTest(`read with a range: ${why}`, async ({ store: blobs }) => {
        await store(blobs, BLOB);
        const bytes = await bytesOf(await blobs.read(DIGEST, range));
        assert.ok(bytes.equals(BLOB.subarray(range.start, range.end + 1)));
      });
    }

    storeTest("a file body's descriptor and span hold the range's bytes, for sendfile", async (fixture) => {
      const blobs = fixture.store;
      await store(blobs, BLOB);
      const range = { start: 1000, end: 200_999 };
      const body = await blobs.read(DIGEST, range);
      try {
        if (body.kind !== "file") return;
        assert.deepEqual([body.start, body.length], [range.start, range.end - range.start + 1]);
        const bytes = Buffer.alloc(body.length);
        assert.equal(readSync(body.fd, bytes, 0, body.length, body.start), body.length);
        assert.ok(bytes.equals(BLOB.subarray(range.start, range.end + 1)));
      } finally {
        body.release();
      }
    });

    storeTest(
      "a body released unread (a HEAD, a client gone), or twice, lets go without error",
      async ({ store: blobs }) => {
        await store(blobs, OTHER);
        const unread = await blobs.read(digestOf(OTHER));
        unread.release();
        unread.release();
        const read = await blobs.read(digestOf(OTHER));
        assert.ok((await bytesOf(read)).equals(OTHER));
        read.release();
      },
    );

    storeTest(
      "a blob of many appends (past where a store hands written bytes to its disk early) commits exact; one aborted midway leaves nothing",
      async ({ store: blobs }) => {
        const large = pseudoRandomBytes(20 * 1024 * 1024 + 3, 13);
        await store(blobs, large);
        assert.ok((await bytesOf(await blobs.read(digestOf(large)))).equals(large));
        const abandoned = await blobs.begin();
        for (const chunk of chunksOf(large.subarray(0, 17 * 1024 * 1024), 1024 * 1024)) {
          await appendAll(abandoned, chunk);
        }
        await abandoned.abort();
        assert.deepEqual(await listed(blobs), [digestOf(large)]);
      },
    );

    storeTest("an empty blob", async ({ store: blobs }) => {
      const empty = Buffer.alloc(0);
      const writer = await blobs.begin();
      await writer.commit(digestOf(empty));
      assert.equal(await blobs.stat(digestOf(empty)), 0);
      assert.equal((await bytesOf(await blobs.read(digestOf(empty)))).byteLength, 0);
    });

    storeTest("nothing is readable before the commit", async ({ store: blobs }) => {
      const writer = await blobs.begin();
      await appendAll(writer, BLOB);
      assert.equal(await blobs.stat(DIGEST), undefined);
      await assert.rejects(blobs.read(DIGEST), NotFoundError);
      assert.deepEqual(await listed(blobs), []);
      await writer.commit(DIGEST);
      assert.equal(await blobs.stat(DIGEST), BLOB.byteLength);
    });

    storeTest(
      "concurrent writers of one digest both commit: one blob, never a partial one",
      async ({ store: blobs }) => {
        const [first, second] = await Promise.all([blobs.begin(), blobs.begin()]);
        assert.ok(first && second);
        for (const chunk of chunksOf(BLOB, 500_000)) {
          await Promise.all([appendAll(first, chunk), appendAll(second, chunk)]);
          assert.equal(await blobs.stat(DIGEST), undefined, "a partial blob is visible");
        }
        await first.commit(DIGEST);
        // A reader of the first commit keeps reading whole bytes while the second commits.
        const early = await blobs.read(DIGEST);
        await second.commit(DIGEST);
        assert.ok((await bytesOf(early)).equals(BLOB));
        assert.ok((await bytesOf(await blobs.read(DIGEST))).equals(BLOB));
        assert.deepEqual(await listed(blobs), [DIGEST]);
      },
    );

    storeTest("concurrent commits of one digest at the same moment", async ({ store: blobs }) => {
      const writers = await Promise.all(Array.from({ length: 4 }, () => blobs.begin()));
      for (const writer of writers) await appendAll(writer, OTHER);
      await Promise.all(writers.map((writer) => writer.commit(digestOf(OTHER))));
      assert.ok((await bytesOf(await blobs.read(digestOf(OTHER)))).equals(OTHER));
      assert.deepEqual(await listed(blobs), [digestOf(OTHER)]);
    });

    storeTest(
      "committing a digest already stored keeps the stored blob and discards the staged bytes",
      async ({ store: blobs }) => {
        await store(blobs, BLOB);
        const storedAt = await blobs.storedAt(DIGEST);
        const writer = await blobs.begin();
        await appendAll(writer, BLOB);
        await writer.commit(DIGEST);
        assert.equal(await blobs.storedAt(DIGEST), storedAt);
        assert.ok((await bytesOf(await blobs.read(DIGEST))).equals(BLOB));
      },
    );

    storeTest(
      "abort: nothing appears and nothing is left; abort is idempotent and a no-op after commit",
      async ({ store: blobs }) => {
        const aborted = await blobs.begin();
        await appendAll(aborted, BLOB);
        await aborted.abort();
        await aborted.abort();
        assert.equal(await blobs.stat(DIGEST), undefined);
        assert.deepEqual(await listed(blobs), []);
        const committed = await blobs.begin();
        await appendAll(committed, OTHER);
        await committed.commit(digestOf(OTHER));
        await committed.abort();
        assert.ok((await bytesOf(await blobs.read(digestOf(OTHER)))).equals(OTHER));
        await assert.rejects(committed.append([OTHER]), "an ended writer takes no more bytes");
      },
    );

    storeTest(
      "a crash between write and commit: a reopened store serves nothing of it, the sweep removes the debris",
      async (fixture) => {
        const writer = await fixture.store.begin();
        await appendAll(writer, BLOB);
        const reopened = await fixture.reopen();
        assert.equal(await reopened.stat(DIGEST), undefined);
        await assert.rejects(reopened.read(DIGEST), NotFoundError);
        assert.deepEqual(await listed(reopened), []);
        assert.ok((await fixture.staged()).length > 0, "the interrupted write left no debris to sweep");
        assert.ok((await reopened.sweepStaging()) >= 1);
        assert.deepEqual(await fixture.staged(), []);
        // The process that wrote it is gone; here, its writer is let go without effect.
        await writer.abort();
        assert.equal(await reopened.stat(DIGEST), undefined);
      },
    );

    storeTest("delete removes a blob; deleting an absent blob is not an error", async ({ store: blobs }) => {
      await store(blobs, BLOB);
      await blobs.delete(DIGEST);
      assert.equal(await blobs.stat(DIGEST), undefined);
      await blobs.delete(DIGEST);
      await assert.rejects(blobs.read(DIGEST), NotFoundError);
    });

    storeTest("digests() lists every stored blob, of every algorithm", async ({ store: blobs }) => {
      const expected: string[] = [];
      for (const [index, label] of ["a", "b", "c", "d"].entries()) {
        const bytes = Buffer.from(label);
        const digest = digestOf(bytes, index % 2 === 0 ? "sha256" : "sha512");
        expected.push(digest);
        await store(blobs, bytes, digest);
      }
      assert.deepEqual(await listed(blobs), expected.sort());
      await blobs.delete(expected[0] as string);
      assert.deepEqual(await listed(blobs), expected.slice(1));
    });

    storeTest(
      "a quarantined blob is no longer stored, listed or readable; an absent one has nowhere to go",
      async ({ store: blobs }) => {
        await store(blobs, BLOB);
        await store(blobs, OTHER);
        const place = await blobs.quarantine(DIGEST);
        assert.equal(typeof place, "string");
        assert.equal(await blobs.stat(DIGEST), undefined);
        await assert.rejects(blobs.read(DIGEST), isNotFound("blob", { digest: DIGEST }));
        assert.deepEqual(await listed(blobs), [digestOf(OTHER)]);
        assert.equal(await blobs.quarantine(DIGEST), undefined);
        // The digest can be stored again, from good bytes.
        await store(blobs, BLOB);
        assert.equal(await blobs.stat(DIGEST), BLOB.byteLength);
      },
    );

    storeTest("an invalid digest is refused everywhere, committing included", async ({ store: blobs }) => {
      const isDigestInvalid = (error: unknown) =>
        error instanceof OciError && error.code === "DIGEST_INVALID";
      for (const digest of ["sha256:../../../etc/passwd", `sha256:${"A".repeat(64)}`, "../x", ""]) {
        await assert.rejects(blobs.stat(digest), isDigestInvalid);
        await assert.rejects(blobs.read(digest), isDigestInvalid);
        await assert.rejects(blobs.delete(digest), isDigestInvalid);
        const writer = await blobs.begin();
        await appendAll(writer, OTHER);
        await assert.rejects(writer.commit(digest), isDigestInvalid);
        await writer.abort();
      }
      assert.deepEqual(await listed(blobs), []);
    });

    storeTest(
      "a local staging file, when the store has one, reads what was appended, after the commit too",
      async ({ store: blobs }) => {
        const writer = await blobs.begin();
        const file = await writer.localFile();
        if (!file) {
          await writer.abort();
          return;
        }
        try {
          await appendAll(writer, BLOB);
          assert.ok((await file.read(1000, 5000)).equals(BLOB.subarray(1000, 6000)));
          await writer.commit(DIGEST);
          assert.ok((await file.read(BLOB.byteLength - 10, 100)).equals(BLOB.subarray(BLOB.byteLength - 10)));
        } finally {
          await file.close();
        }
      },
    );

    describe("session staging", () => {
      const ID = "0b0e5d8c-2f4a-4c7e-9a51-0c1d2e3f4a5b";

      storeTest(
        "create, append across resumes, read back, commit: the staging becomes the blob",
        async ({ store: blobs }) => {
          await blobs.sessions.create(ID);
          assert.equal((await sessionBytes(blobs, ID, 0)).byteLength, 0);
          const first = await blobs.sessions.resume(ID, 0);
          await appendAll(first, BLOB.subarray(0, 1_000_000));
          await first.suspend();
          const second = await blobs.sessions.resume(ID, 1_000_000);
          await appendAll(second, BLOB.subarray(1_000_000));
          // Read back while the writer is still open: what a restarted process needs for the digest.
          assert.ok((await sessionBytes(blobs, ID, BLOB.byteLength)).equals(BLOB));
          await second.commit(DIGEST);
          await second.suspend();
          assert.ok((await bytesOf(await blobs.read(DIGEST))).equals(BLOB));
          await assert.rejects(blobs.sessions.resume(ID, 0), isNotFound("upload", { id: ID }));
        },
      );

      storeTest("a resume drops what lies past the offset metadata recorded", async ({ store: blobs }) => {
        await blobs.sessions.create(ID);
        const writer = await blobs.sessions.resume(ID, 0);
        await appendAll(writer, Buffer.from("hello, world"));
        await writer.suspend();
        const resumed = await blobs.sessions.resume(ID, 5);
        await appendAll(resumed, Buffer.from("!"));
        assert.equal((await sessionBytes(blobs, ID, 6)).toString(), "hello!");
        await resumed.abort();
        await assert.rejects(sessionBytes(blobs, ID, 0), isNotFound("upload", { id: ID }));
      });

      storeTest("session staging survives a restart and the start-up sweep", async (fixture) => {
        await fixture.store.sessions.create(ID);
        const writer = await fixture.store.sessions.resume(ID, 0);
        await appendAll(writer, OTHER);
        await writer.suspend();
        const reopened = await fixture.reopen();
        await reopened.sweepStaging();
        assert.ok((await sessionBytes(reopened, ID, OTHER.byteLength)).equals(OTHER));
        await reopened.sessions.discard(ID);
        await reopened.sessions.discard(ID);
      });

      storeTest("unknown or unsafe session ids are not found", async ({ store: blobs }) => {
        for (const id of ["absent", "../blobs", "a/b", ""]) {
          await assert.rejects(blobs.sessions.resume(id, 0), NotFoundError, id);
          await assert.rejects(sessionBytes(blobs, id, 0), NotFoundError, id);
        }
      });
    });
  });
}
