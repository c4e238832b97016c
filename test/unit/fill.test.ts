import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, type TestContext, test } from "node:test";
import type { ParsedDigest } from "../../src/oci/digest.js";
import type { BodyPiece } from "../../src/store/blob-body.js";
import type { ByteRange } from "../../src/store/blob-store.js";
import { FillAbortedError } from "../../src/store/fill.js";
import { Spool } from "../../src/store/spool.js";
import { DigestMismatchError } from "../../src/util/errors.js";
import {
  assertNothingKept,
  assertStored,
  chunksOf,
  collect,
  createFill,
  FailingWritesSpool,
  follow,
  lazyChunks,
  lazyDigest,
  lazySource,
  MiB,
  manualSource,
  parsedDigestOf,
  pseudoRandomBytes,
  ReadOnlySpool,
  reader,
  STORE_KINDS,
  type StoreFixture,
  storeFixture,
  turns,
  UncreatableSpool,
  unlessStalled,
  until,
} from "./store-helpers.js";

const BLOB = pseudoRandomBytes(256 * 1024 + 123);
const DIGEST = parsedDigestOf(BLOB);

/** One chunk per read, as a network source gives them, so staging writes happen chunk by chunk. */
function chunkedSource(bytes: Buffer, chunkSize: number): Readable {
  return Readable.from(chunksOf(bytes, chunkSize));
}

// Every case runs over a store that stages in a local file (fs) and one that does not (memory),
// where the download keeps its own spool file for its readers.
for (const kind of STORE_KINDS) {
  const uncreatable = (t: TestContext) =>
    storeFixture(t, { kind, spoolFor: (directory) => new UncreatableSpool(directory) });

  describe(`BlobFill: a verified download (${kind} store)`, () => {
    for (const size of [BLOB.byteLength, undefined]) {
      const sizeText = size === undefined ? "unknown size" : "known size";
      test(`stores the blob only after the digest matched, and holds back the last byte until then (${sizeText})`, async (t) => {
        const fixture = await storeFixture(t, { kind });
        const body = manualSource();
        const fill = await createFill(fixture, { size, body }, DIGEST);
        const followed = follow(reader(fill));
        fill.run();

        for (const chunk of chunksOf(BLOB, 64 * 1024)) body.write(chunk);
        await until(
          () => followed.received() === BLOB.byteLength - 1,
          "the reader has all but the last byte",
        );
        await turns(20);
        assert.equal(followed.received(), BLOB.byteLength - 1, "the last byte went out before verification");
        assert.equal(fill.state, "filling");
        assert.equal(await fixture.store.stat(DIGEST.digest), undefined, "stored before the source ended");

        body.end();
        assert.ok((await followed.done).equals(BLOB));
        assert.deepEqual(await fill.done, { stored: true });
        assert.equal(fill.state, "verified");
        assert.equal(fill.received, BLOB.byteLength);
        await assertStored(fixture, BLOB);
      });
    }

    test("the first reader gets bytes while the source is still sending", async (t) => {
      const fixture = await storeFixture(t, { kind });
      const body = manualSource();
      const fill = await createFill(fixture, { size: BLOB.byteLength, body }, DIGEST);
      const followed = follow(reader(fill));
      fill.run();

      const [first, ...rest] = chunksOf(BLOB, 16 * 1024);
      body.write(first);
      await until(() => followed.received() > 0, "the reader gets the first bytes");
      assert.equal(body.writableEnded, false);
      assert.ok(followed.received() <= (first?.byteLength ?? 0));

      for (const chunk of rest) body.write(chunk);
      body.end();
      assert.ok((await followed.done).equals(BLOB));
    });

    test("a reader sending from the local file gets the first bytes written at once, not after the write delay", async (t) => {
      const fixture = await storeFixture(t, { kind });
      const big = pseudoRandomBytes(2 * MiB, 41);
      const body = manualSource();
      const fill = await createFill(fixture, { size: big.byteLength, body }, parsedDigestOf(big));
      const pieces = fill.createBody()?.pieces()[Symbol.asyncIterator]();
      assert.ok(pieces);
      // The delay's timer never fires here: only the waiting reader can start the write.
      t.mock.timers.enable({ apis: ["setTimeout"] });
      fill.run();
      body.write(big.subarray(0, 64 * 1024));
      let first: BodyPiece | undefined;
      void pieces.next().then((result) => {
        first = result.done ? undefined : result.value;
      });
      await until(() => first !== undefined, "the first piece is handed out");
      assert.deepEqual(first?.kind === "file" ? [first.kind, first.start] : first, ["file", 0]);
      t.mock.timers.reset();
      body.end(big.subarray(64 * 1024));
      while (!(await pieces.next()).done);
      assert.deepEqual(await fill.done, { stored: true });
    });

    test("several readers, ranged readers and readers that join late all get exact bytes", async (t) => {
      const fixture = await storeFixture(t, { kind });
      const body = manualSource();
      const fill = await createFill(fixture, { size: BLOB.byteLength, body }, DIGEST);
      const last = BLOB.byteLength - 1;
      const ranges: Array<ByteRange | undefined> = [
        undefined,
        undefined,
        { start: 0, end: 0 },
        { start: 1000, end: 150_000 },
        { start: last - 9, end: last },
        { start: last, end: last },
        { start: 200_000, end: last + 5000 },
      ];
      const early = ranges.map((range) => ({ range, done: collect(reader(fill, range)) }));
      fill.run();

      const chunks = chunksOf(BLOB, 10_000);
      const half = Math.floor(chunks.length / 2);
      for (const chunk of chunks.slice(0, half)) body.write(chunk);
      await until(() => fill.received === half * 10_000, "half of the blob arrived");
      assert.equal(fill.joinable, true);
      const late = ranges.map((range) => ({ range, done: collect(reader(fill, range)) }));
      for (const chunk of chunks.slice(half)) body.write(chunk);
      body.end();

      for (const { range, done } of [...early, ...late]) {
        const expected = range ? BLOB.subarray(range.start, range.end + 1) : BLOB;
        assert.ok((await done).equals(expected), `range ${JSON.stringify(range)}`);
      }
      assert.deepEqual(await fill.done, { stored: true });
      assert.equal(fill.readerCount, 0);
    });

    test("no reader can join once the download is over", async (t) => {
      const fixture = await storeFixture(t, { kind });
      const body = manualSource();
      const fill = await createFill(fixture, { size: BLOB.byteLength, body }, DIGEST);
      fill.run();
      body.end(BLOB);
      await fill.done;
      assert.equal(fill.joinable, false);
      assert.equal(fill.createReader(), undefined);
    });

    test("an empty blob", async (t) => {
      const fixture = await storeFixture(t, { kind });
      const empty = Buffer.alloc(0);
      const body = manualSource();
      const fill = await createFill(fixture, { size: 0, body }, parsedDigestOf(empty));
      const done = collect(reader(fill));
      fill.run();
      body.end();
      assert.equal((await done).byteLength, 0);
      assert.deepEqual(await fill.done, { stored: true });
      await assertStored(fixture, empty);
    });

    test("a reader destroyed early does not stop the download for the others", async (t) => {
      const fixture = await storeFixture(t, { kind });
      const body = manualSource();
      const fill = await createFill(fixture, { size: BLOB.byteLength, body }, DIGEST);
      const quitter = reader(fill);
      const stayer = collect(reader(fill));
      fill.run();
      const chunks = chunksOf(BLOB, 16 * 1024);
      body.write(chunks[0]);
      await new Promise((resolve) => quitter.once("data", resolve));
      quitter.destroy();
      for (const chunk of chunks.slice(1)) body.write(chunk);
      body.end();
      assert.ok((await stayer).equals(BLOB));
      assert.deepEqual(await fill.done, { stored: true });
      await assertStored(fixture, BLOB);
    });

    test("a download whose only reader is gone still completes and is stored", async (t) => {
      const fixture = await storeFixture(t, { kind });
      const body = manualSource();
      const fill = await createFill(fixture, { size: BLOB.byteLength, body }, DIGEST);
      const only = reader(fill);
      fill.run();
      body.write(BLOB.subarray(0, 1000));
      await new Promise((resolve) => only.once("data", resolve));
      only.destroy();
      await until(() => fill.readerCount === 0, "the reader is gone");
      body.end(BLOB.subarray(1000));
      assert.deepEqual(await fill.done, { stored: true });
      await assertStored(fixture, BLOB);
    });
  });

  describe(`BlobFill: a failed download keeps nothing (${kind} store)`, () => {
    const WRONG = Buffer.from(BLOB);
    WRONG[WRONG.byteLength - 1] = (WRONG[WRONG.byteLength - 1] ?? 0) ^ 0xff;

    const failures: ReadonlyArray<{
      why: string;
      size: number | undefined;
      feed: (body: ReturnType<typeof manualSource>) => void;
      error: (error: unknown) => boolean;
      digest?: ParsedDigest;
    }> = [
      {
        why: "content with another digest",
        size: BLOB.byteLength,
        feed: (body) => body.end(WRONG),
        error: (error) => error instanceof DigestMismatchError,
      },
      {
        why: "content with another digest, size unknown",
        size: undefined,
        feed: (body) => body.end(WRONG),
        error: (error) => error instanceof DigestMismatchError,
      },
      {
        why: "a source that fails midway",
        size: BLOB.byteLength,
        feed: (body) => {
          body.write(BLOB.subarray(0, 100_000));
          setImmediate(() => body.destroy(new Error("connection reset by peer")));
        },
        error: (error) => error instanceof Error && /connection reset/.test(error.message),
      },
      {
        why: "more bytes than announced",
        size: BLOB.byteLength - 1,
        feed: (body) => body.end(BLOB),
        error: (error) => error instanceof FillAbortedError,
      },
      {
        why: "fewer bytes than announced",
        size: BLOB.byteLength + 1,
        feed: (body) => body.end(BLOB),
        error: (error) => error instanceof FillAbortedError,
      },
      {
        why: "fewer bytes than announced, with the right digest for what came",
        size: BLOB.byteLength,
        feed: (body) => body.end(BLOB.subarray(0, 1000)),
        error: (error) => error instanceof FillAbortedError,
        digest: parsedDigestOf(BLOB.subarray(0, 1000)),
      },
    ];

    for (const { why, size, feed, error, digest = DIGEST } of failures) {
      test(`${why}: every reader fails, nothing is stored, no spool file is left`, async (t) => {
        const fixture = await storeFixture(t, { kind });
        const body = manualSource();
        const fill = await createFill(fixture, { size, body }, digest);
        const readers = [reader(fill), reader(fill), reader(fill, { start: 10, end: 20 })].map(follow);
        fill.run();
        feed(body);

        await assert.rejects(fill.done, error);
        for (const followed of readers) {
          await assert.rejects(followed.done, error);
          assert.ok(followed.received() < (size ?? BLOB.byteLength), "a failed reader got everything");
        }
        assert.equal(fill.state, "failed");
        assert.equal(fill.joinable, false);
        assert.ok(body.destroyed, "the source is released");
        await assertNothingKept(fixture, digest.digest);
      });
    }

    test("a reader that is not reading when the download fails is destroyed too", async (t) => {
      const fixture = await storeFixture(t, { kind });
      const body = manualSource();
      const fill = await createFill(fixture, { size: BLOB.byteLength, body }, DIGEST);
      const idle = reader(fill);
      fill.run();
      body.end(WRONG);
      await assert.rejects(fill.done, DigestMismatchError);
      // Its client is slow or has not started reading: it must still learn the content was bad.
      await until(() => idle.destroyed, "the idle reader is destroyed", 5000);
      await assertNothingKept(fixture, DIGEST.digest);
    });

    test("a failure with no reader at all still removes the spool file", async (t) => {
      const fixture = await storeFixture(t, { kind });
      const body = manualSource();
      const fill = await createFill(fixture, { size: BLOB.byteLength, body }, DIGEST);
      fill.run();
      body.end(WRONG);
      await assert.rejects(fill.done, DigestMismatchError);
      await assertNothingKept(fixture, DIGEST.digest);
    });
  });

  describe(`BlobFill: pass-through when the staging cannot be used (${kind} store)`, () => {
    const brokenSpools: ReadonlyArray<readonly [string, (t: TestContext) => Promise<StoreFixture>]> = [
      ["spool.create throws", uncreatable],
      [
        "the spool directory is a path below a regular file",
        (t) =>
          storeFixture(t, {
            kind,
            spoolFor: (_directory, root) => {
              const file = join(root, "not-a-directory");
              writeFileSync(file, "");
              return new Spool(join(file, "tmp"));
            },
          }),
      ],
      [
        "the spool file rejects every write",
        (t) => storeFixture(t, { kind, spoolFor: (directory) => new ReadOnlySpool(directory) }),
      ],
      [
        "the spool file fills up midway",
        (t) => storeFixture(t, { kind, spoolFor: (directory) => new FailingWritesSpool(directory, 100_000) }),
      ],
    ];

    for (const [why, makeFixture] of brokenSpools) {
      test(`${why}: readers still get exact bytes, nothing is stored`, async (t) => {
        const fixture = await makeFixture(t);
        const failures: unknown[] = [];
        const source = { size: BLOB.byteLength, body: chunkedSource(BLOB, 16 * 1024) };
        const fill = await createFill(fixture, source, DIGEST, (error) => failures.push(error));
        const ranged = { start: 5000, end: 70_000 };
        const done = [collect(reader(fill)), collect(reader(fill)), collect(reader(fill, ranged))];
        fill.run();

        const [first, second, third] = await Promise.all(done);
        assert.ok(first?.equals(BLOB) && second?.equals(BLOB));
        assert.ok(third?.equals(BLOB.subarray(ranged.start, ranged.end + 1)));
        assert.deepEqual(await fill.done, { stored: false });
        assert.equal(failures.length, 1, "onSpoolFailure is reported once");
        assert.ok(failures[0] instanceof Error);
        await assertNothingKept(fixture, DIGEST.digest);
      });
    }

    test("memory stays bounded: the download waits for a slow reader", async (t) => {
      const fixture = await uncreatable(t);
      const total = 24 * MiB;
      const source = lazySource(total, MiB);
      const fill = await createFill(
        fixture,
        { size: total, body: source.body },
        lazyDigest(total, MiB),
        () => {},
      );
      const slow = reader(fill);
      fill.run();

      let consumed = 0;
      let furthestAhead = 0;
      const consume = async () => {
        for await (const chunk of slow) {
          consumed += (chunk as Buffer).byteLength;
          furthestAhead = Math.max(furthestAhead, source.produced() - consumed);
          await turns(3);
        }
      };
      await unlessStalled(consume(), () => consumed + source.produced(), "the slow reader");
      assert.equal(consumed, total);
      assert.deepEqual(await fill.done, { stored: false });
      // The window is 8 MiB; a chunk or two in flight on either side of it is fine.
      assert.ok(furthestAhead <= 12 * MiB, `the download ran ${furthestAhead / MiB} MiB ahead of its reader`);
    });

    test("with no reader left, the download gives up within one window instead of buffering", async (t) => {
      const fixture = await uncreatable(t);
      const total = 32 * MiB;
      const source = lazySource(total, MiB);
      const fill = await createFill(
        fixture,
        { size: total, body: source.body },
        lazyDigest(total, MiB),
        () => {},
      );
      const quitter = reader(fill);
      fill.run();
      await new Promise((resolve) => quitter.once("data", resolve));
      quitter.destroy();
      const producedWhenAlone = source.produced();
      await assert.rejects(
        unlessStalled(fill.done, source.produced, "the abandoned download"),
        FillAbortedError,
      );
      const wasted = source.produced() - producedWhenAlone;
      assert.ok(wasted <= 10 * MiB, `read ${wasted / MiB} MiB for nobody`);
      assert.ok(source.body.destroyed, "the source is released");
    });

    // A client resuming a layer (Range) while the disk is full: alone on a pass-through download.
    const RANGES: ReadonlyArray<readonly [string, ByteRange]> = [
      ["a range that ends early", { start: 0, end: 99 }],
      ["a range that starts past the window", { start: 11 * MiB, end: 11 * MiB + 99 }],
    ];
    const SPOOLS: ReadonlyArray<readonly [string, (t: TestContext) => Promise<StoreFixture>]> = [
      ["spooled", (t) => storeFixture(t, { kind })],
      ["pass-through", uncreatable],
    ];
    for (const [spoolKind, makeFixture] of SPOOLS) {
      for (const [why, range] of RANGES) {
        test(`a ranged reader alone on a ${spoolKind} download: ${why}`, async (t) => {
          const fixture = await makeFixture(t);
          const total = 12 * MiB;
          const expected = Buffer.concat([...lazyChunks(total, MiB)]).subarray(range.start, range.end + 1);
          const source = lazySource(total, MiB);
          const fill = await createFill(
            fixture,
            { size: total, body: source.body },
            lazyDigest(total, MiB),
            () => {},
          );
          const done = collect(reader(fill, range));
          fill.run();
          // A spooled download waits on disk I/O, so only the in-memory one can be judged by the loop.
          const bytes = await (spoolKind === "pass-through"
            ? unlessStalled(done, source.produced, `range ${range.start}-${range.end}`)
            : done);
          assert.ok(bytes.equals(expected));
          assert.deepEqual(await fill.done, { stored: spoolKind === "spooled" });
        });
      }
    }
  });
}
