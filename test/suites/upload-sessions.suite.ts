// The contract of src/store/upload-sessions.ts, run against every UploadSessions and every blob store
// it can keep its bytes in (test/unit/upload-sessions.test.ts).
import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { describe, type TestContext, test } from "node:test";
import type { UploadRecord } from "../../src/meta/metadata-store.js";
import { digestOf, parseDigest } from "../../src/oci/digest.js";
import { bytesOf } from "../../src/store/blob-body.js";
import type { BlobStore } from "../../src/store/blob-store.js";
import type { UploadSessions } from "../../src/store/upload-sessions.js";
import {
  DigestMismatchError,
  NotFoundError,
  SizeMismatchError,
  TooLargeError,
  UploadOutOfOrderError,
} from "../../src/util/errors.js";
import type { ManualClock } from "../fakes/manual-clock.js";
import { chunksOf, pseudoRandomBytes } from "../unit/store-helpers.js";

export interface UploadSessionsFixture {
  readonly sessions: UploadSessions;
  /** The blob store the sessions commit into. */
  readonly blobs: BlobStore;
  /** The clock the sessions read. */
  readonly clock: ManualClock;
  /** A new instance over the same stores, as after a restart: nothing in memory survives. */
  restart(): UploadSessions;
  /** What is staged in the blob store: empty once every session ended. */
  staged(): Promise<string[]>;
}

/** Sessions over empty stores, refusing uploads past `maxBytes`. */
export type UploadSessionsFactory = (
  t: TestContext,
  limits: { maxBytes: number },
) => Promise<UploadSessionsFixture>;

const REPO = "internal";
const NAME = "team/app";
const MAX_BYTES = 1024 * 1024;
const BLOB = pseudoRandomBytes(300_000, 21);
const DIGEST = parseDigest(digestOf(BLOB));

function body(bytes: Buffer, chunkSize = 64 * 1024): Readable {
  return Readable.from(chunksOf(bytes, chunkSize));
}

function outOfOrderAt(offset: number) {
  return (error: unknown) => {
    assert.ok(error instanceof UploadOutOfOrderError, `expected UploadOutOfOrderError, got ${String(error)}`);
    assert.equal(error.offset, offset);
    return true;
  };
}

function uploadNotFound(error: unknown): boolean {
  assert.ok(error instanceof NotFoundError, `expected NotFoundError, got ${String(error)}`);
  assert.equal(error.what, "upload");
  return true;
}

export function uploadSessionsConformance(name: string, factory: UploadSessionsFactory): void {
  /** Every test ends with nothing staged: a session the test left open, or the sessions leaked bytes, fails it. */
  const sessionTest = (title: string, run: (fixture: UploadSessionsFixture) => Promise<void>) =>
    test(title, async (t) => {
      const fixture = await factory(t, { maxBytes: MAX_BYTES });
      await run(fixture);
      assert.deepEqual(await fixture.staged(), [], "staged objects were left behind");
    });

  async function assertStored(fixture: UploadSessionsFixture, bytes: Buffer): Promise<void> {
    assert.ok((await bytesOf(await fixture.blobs.read(digestOf(bytes)))).equals(bytes));
  }

  describe(`UploadSessions conformance: ${name}`, () => {
    sessionTest(
      "create starts at offset 0; get finds it only under its repository and name",
      async (fixture) => {
        const { sessions, clock } = fixture;
        const upload = await sessions.create(REPO, NAME);
        assert.equal(upload.offset, 0);
        assert.deepEqual([upload.repo, upload.name, upload.createdAt], [REPO, NAME, clock.now()]);
        assert.deepEqual(await sessions.get(REPO, NAME, upload.id), upload);
        await assert.rejects(sessions.get("other", NAME, upload.id), uploadNotFound);
        await assert.rejects(sessions.get(REPO, "other/name", upload.id), uploadNotFound);
        await assert.rejects(
          sessions.get(REPO, NAME, "00000000-0000-0000-0000-000000000000"),
          uploadNotFound,
        );
        await assert.rejects(sessions.get(REPO, NAME, "../../etc/passwd"), uploadNotFound);
        await sessions.cancel(upload);
      },
    );

    sessionTest(
      "chunks appended in order, then finished with the right digest: the blob is stored, the session gone",
      async (fixture) => {
        const { sessions } = fixture;
        let upload = await sessions.create(REPO, NAME);
        upload = await sessions.append(upload, body(BLOB.subarray(0, 100_000)), {
          start: 0,
          length: 100_000,
        });
        assert.equal(upload.offset, 100_000);
        upload = await sessions.append(upload, body(BLOB.subarray(100_000)), { start: 100_000 });
        assert.equal(upload.offset, BLOB.byteLength);
        assert.equal((await sessions.get(REPO, NAME, upload.id)).offset, BLOB.byteLength);
        assert.deepEqual(await sessions.finish(upload, DIGEST, undefined, {}), {
          digest: DIGEST.digest,
          size: BLOB.byteLength,
        });
        await assertStored(fixture, BLOB);
        await assert.rejects(sessions.get(REPO, NAME, upload.id), uploadNotFound);
      },
    );

    sessionTest("the closing PUT may carry the last chunk, or the whole blob", async (fixture) => {
      const { sessions } = fixture;
      const chunked = await sessions.create(REPO, NAME);
      const first = await sessions.append(chunked, body(BLOB.subarray(0, 1000)), {});
      await sessions.finish(first, DIGEST, body(BLOB.subarray(1000)), { start: 1000 });
      const whole = pseudoRandomBytes(5000, 22);
      const single = await sessions.create(REPO, NAME);
      await sessions.finish(single, parseDigest(digestOf(whole)), body(whole), { length: whole.byteLength });
      await assertStored(fixture, BLOB);
      await assertStored(fixture, whole);
    });

    sessionTest(
      "a chunk that does not start at the offset is refused with the offset to resume from",
      async (fixture) => {
        const { sessions } = fixture;
        let upload = await sessions.create(REPO, NAME);
        upload = await sessions.append(upload, body(BLOB.subarray(0, 1000)), { start: 0 });
        for (const start of [0, 500, 2000]) {
          await assert.rejects(
            sessions.append(upload, body(BLOB.subarray(start, start + 1000)), { start }),
            outOfOrderAt(1000),
          );
        }
        assert.equal((await sessions.get(REPO, NAME, upload.id)).offset, 1000);
        await sessions.finish(upload, DIGEST, body(BLOB.subarray(1000)), { start: 1000 });
        await assertStored(fixture, BLOB);
      },
    );

    sessionTest(
      "a second writer while one writes is refused with the offset, never interleaved",
      async (fixture) => {
        const { sessions } = fixture;
        const upload = await sessions.create(REPO, NAME);
        const slow = new PassThrough();
        const writing = sessions.append(upload, slow, {});
        slow.write(BLOB.subarray(0, 1000));
        await assert.rejects(sessions.append(upload, body(BLOB.subarray(0, 10)), {}), outOfOrderAt(0));
        await assert.rejects(sessions.finish(upload, DIGEST, undefined, {}), outOfOrderAt(0));
        await assert.rejects(sessions.cancel(upload), outOfOrderAt(0));
        slow.end(BLOB.subarray(1000, 2000));
        const written = await writing;
        assert.equal(written.offset, 2000);
        await sessions.finish(written, DIGEST, body(BLOB.subarray(2000)), {});
        await assertStored(fixture, BLOB);
      },
    );

    sessionTest(
      "a writer that comes back while the previous request lets go waits for it, then continues",
      async (fixture) => {
        const { sessions } = fixture;
        const upload = await sessions.create(REPO, NAME);
        const dropped = new PassThrough();
        const letting = sessions.append(upload, dropped, {});
        dropped.write(BLOB.subarray(0, 1000));
        const next = sessions.append(upload, body(BLOB.subarray(1000, 2000)), { start: 1000 });
        // The first request ends a moment later (its connection's close seen), well within the wait.
        await new Promise((resolve) => setImmediate(resolve));
        dropped.end();
        assert.equal((await letting).offset, 1000);
        assert.equal((await next).offset, 2000);
        await sessions.finish(
          await sessions.get(REPO, NAME, upload.id),
          DIGEST,
          body(BLOB.subarray(2000)),
          {},
        );
        await assertStored(fixture, BLOB);
      },
    );

    sessionTest("too large when announced: refused before a byte is written", async (fixture) => {
      const { sessions } = fixture;
      const upload = await sessions.create(REPO, NAME);
      const announced = new PassThrough();
      announced.write(Buffer.alloc(1000));
      await assert.rejects(
        sessions.append(upload, announced, { length: MAX_BYTES + 1 }),
        (error) => error instanceof TooLargeError && error.limit === MAX_BYTES,
      );
      assert.equal(announced.readableLength, 1000, "the body was read");
      assert.equal((await sessions.get(REPO, NAME, upload.id)).offset, 0);
      await sessions.cancel(upload);
    });

    sessionTest(
      "too large when discovered: refused at the chunk that crosses the limit, what came before kept",
      async (fixture) => {
        const { sessions } = fixture;
        const upload = await sessions.create(REPO, NAME);
        const big = pseudoRandomBytes(MAX_BYTES + 100_000, 23);
        await assert.rejects(sessions.append(upload, body(big, 100_000), {}), TooLargeError);
        const offset = (await sessions.get(REPO, NAME, upload.id)).offset;
        assert.equal(offset, 1_000_000, "the chunks before the limit count, the crossing one does not");
        await sessions.cancel(upload);
      },
    );

    sessionTest(
      "a chunk shorter than it announced is a size mismatch; what it carried counts",
      async (fixture) => {
        const { sessions } = fixture;
        const upload = await sessions.create(REPO, NAME);
        await assert.rejects(
          sessions.append(upload, body(BLOB.subarray(0, 500)), { length: 1000 }),
          SizeMismatchError,
        );
        assert.equal((await sessions.get(REPO, NAME, upload.id)).offset, 500);
        await sessions.cancel(upload);
      },
    );

    sessionTest("a cut connection keeps what arrived; the client resumes from there", async (fixture) => {
      const { sessions } = fixture;
      const upload = await sessions.create(REPO, NAME);
      // The connection breaks once the first bytes were taken.
      const cut = Readable.from(
        (async function* () {
          yield* chunksOf(BLOB.subarray(0, 70_000), 10_000);
          throw new Error("connection reset by peer");
        })(),
      );
      await assert.rejects(sessions.append(upload, cut, {}), /connection reset/);
      const resumed = await sessions.get(REPO, NAME, upload.id);
      assert.equal(resumed.offset, 70_000);
      await sessions.finish(resumed, DIGEST, body(BLOB.subarray(70_000)), { start: 70_000 });
      await assertStored(fixture, BLOB);
    });

    sessionTest(
      "a wrong digest is refused and leaves the session as it was; the right one then works",
      async (fixture) => {
        const { sessions } = fixture;
        const upload = await sessions.append(await sessions.create(REPO, NAME), body(BLOB), {});
        const wrong = parseDigest(digestOf(Buffer.from("something else")));
        await assert.rejects(
          sessions.finish(upload, wrong, undefined, {}),
          (error) => error instanceof DigestMismatchError && error.actual === DIGEST.digest,
        );
        assert.equal(await fixture.blobs.stat(wrong.digest), undefined);
        assert.equal(await fixture.blobs.stat(DIGEST.digest), undefined);
        assert.equal((await sessions.get(REPO, NAME, upload.id)).offset, BLOB.byteLength);
        await sessions.finish(upload, DIGEST, undefined, {});
        await assertStored(fixture, BLOB);
      },
    );

    sessionTest(
      "a digest of another algorithm than the running hash's is computed from the staged bytes",
      async (fixture) => {
        const { sessions } = fixture;
        const sha512 = parseDigest(digestOf(BLOB, "sha512"));
        const upload = await sessions.append(await sessions.create(REPO, NAME), body(BLOB), {});
        await sessions.finish(upload, sha512, undefined, {});
        assert.ok((await bytesOf(await fixture.blobs.read(sha512.digest))).equals(BLOB));
      },
    );

    sessionTest(
      "after a restart a session resumes and finishes, its digest recomputed from the staged bytes",
      async (fixture) => {
        const first = await fixture.sessions.append(
          await fixture.sessions.create(REPO, NAME),
          body(BLOB.subarray(0, 100_000)),
          {},
        );
        const restarted = fixture.restart();
        const found = await restarted.get(REPO, NAME, first.id);
        assert.equal(found.offset, 100_000);
        const more = await restarted.append(found, body(BLOB.subarray(100_000, 200_000)), { start: 100_000 });
        const again = fixture.restart();
        await again.finish(more, DIGEST, body(BLOB.subarray(200_000)), { start: 200_000 });
        await assertStored(fixture, BLOB);
      },
    );

    sessionTest("cancel ends the session and drops its bytes", async (fixture) => {
      const { sessions } = fixture;
      const upload = await sessions.append(await sessions.create(REPO, NAME), body(BLOB), {});
      await sessions.cancel(upload);
      await assert.rejects(sessions.get(REPO, NAME, upload.id), uploadNotFound);
      assert.equal(await fixture.blobs.stat(DIGEST.digest), undefined);
    });

    sessionTest(
      "purgeIdle ends sessions nobody wrote for the given time, and skips one being written",
      async (fixture) => {
        const { sessions, clock } = fixture;
        const abandoned = await sessions.create(REPO, NAME);
        let active = await sessions.create(REPO, NAME);
        const writing = await sessions.create(REPO, NAME);
        clock.advance(10_000);
        active = await sessions.append(active, body(BLOB.subarray(0, 10)), {});
        const slow = new PassThrough();
        const busy = sessions.append(writing, slow, {});
        clock.advance(10_000);
        assert.equal(await sessions.purgeIdle(15_000), 1);
        await assert.rejects(sessions.get(REPO, NAME, abandoned.id), uploadNotFound);
        assert.equal((await sessions.get(REPO, NAME, active.id)).offset, 10);
        slow.end(BLOB.subarray(0, 10));
        assert.equal((await busy).offset, 10);
        assert.equal(await sessions.purgeIdle(60_000), 0, "nothing was idle for a minute");
        clock.advance(60_001);
        assert.equal(await sessions.purgeIdle(60_000), 2);
        for (const upload of [active, writing] satisfies UploadRecord[]) {
          await assert.rejects(sessions.get(REPO, NAME, upload.id), uploadNotFound);
        }
      },
    );
  });
}
