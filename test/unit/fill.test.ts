import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ParsedDigest } from "../../src/oci/digest.js";
import type { ByteRange } from "../../src/store/blob-store.js";
import { DigestMismatchError, FillAbortedError } from "../../src/store/fill.js";
import {
  assertNothingKept,
  assertStored,
  chunksOf,
  collect,
  createFill,
  follow,
  manualSource,
  parsedDigestOf,
  pseudoRandomBytes,
  reader,
  storeFixture,
  turns,
  until,
} from "./store-helpers.js";

const BLOB = pseudoRandomBytes(256 * 1024 + 123);
const DIGEST = parsedDigestOf(BLOB);

describe("BlobFill: a verified download", () => {
  for (const size of [BLOB.byteLength, undefined]) {
    const sizeText = size === undefined ? "unknown size" : "known size";
    test(`stores the blob only after the digest matched, and holds back the last byte until then (${sizeText})`, async (t) => {
      const fixture = await storeFixture(t);
      const body = manualSource();
      const fill = await createFill(fixture, { size, body }, DIGEST);
      const followed = follow(reader(fill));
      fill.run(fixture.store);

      for (const chunk of chunksOf(BLOB, 64 * 1024)) body.write(chunk);
      await until(() => followed.received() === BLOB.byteLength - 1, "the reader has all but the last byte");
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
    const fixture = await storeFixture(t);
    const body = manualSource();
    const fill = await createFill(fixture, { size: BLOB.byteLength, body }, DIGEST);
    const followed = follow(reader(fill));
    fill.run(fixture.store);

    const [first, ...rest] = chunksOf(BLOB, 16 * 1024);
    body.write(first);
    await until(() => followed.received() > 0, "the reader gets the first bytes");
    assert.equal(body.writableEnded, false);
    assert.ok(followed.received() <= (first?.byteLength ?? 0));

    for (const chunk of rest) body.write(chunk);
    body.end();
    assert.ok((await followed.done).equals(BLOB));
  });

  test("several readers, ranged readers and readers that join late all get exact bytes", async (t) => {
    const fixture = await storeFixture(t);
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
    fill.run(fixture.store);

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
    const fixture = await storeFixture(t);
    const body = manualSource();
    const fill = await createFill(fixture, { size: BLOB.byteLength, body }, DIGEST);
    fill.run(fixture.store);
    body.end(BLOB);
    await fill.done;
    assert.equal(fill.joinable, false);
    assert.equal(fill.createReader(), undefined);
  });

  test("an empty blob", async (t) => {
    const fixture = await storeFixture(t);
    const empty = Buffer.alloc(0);
    const body = manualSource();
    const fill = await createFill(fixture, { size: 0, body }, parsedDigestOf(empty));
    const done = collect(reader(fill));
    fill.run(fixture.store);
    body.end();
    assert.equal((await done).byteLength, 0);
    assert.deepEqual(await fill.done, { stored: true });
    await assertStored(fixture, empty);
  });

  test("a reader destroyed early does not stop the download for the others", async (t) => {
    const fixture = await storeFixture(t);
    const body = manualSource();
    const fill = await createFill(fixture, { size: BLOB.byteLength, body }, DIGEST);
    const quitter = reader(fill);
    const stayer = collect(reader(fill));
    fill.run(fixture.store);
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
    const fixture = await storeFixture(t);
    const body = manualSource();
    const fill = await createFill(fixture, { size: BLOB.byteLength, body }, DIGEST);
    const only = reader(fill);
    fill.run(fixture.store);
    body.write(BLOB.subarray(0, 1000));
    await new Promise((resolve) => only.once("data", resolve));
    only.destroy();
    await until(() => fill.readerCount === 0, "the reader is gone");
    body.end(BLOB.subarray(1000));
    assert.deepEqual(await fill.done, { stored: true });
    await assertStored(fixture, BLOB);
  });
});

describe("BlobFill: a failed download keeps nothing", () => {
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
      const fixture = await storeFixture(t);
      const body = manualSource();
      const fill = await createFill(fixture, { size, body }, digest);
      const readers = [reader(fill), reader(fill), reader(fill, { start: 10, end: 20 })].map(follow);
      fill.run(fixture.store);
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

  test("a failure with no reader at all still removes the spool file", async (t) => {
    const fixture = await storeFixture(t);
    const body = manualSource();
    const fill = await createFill(fixture, { size: BLOB.byteLength, body }, DIGEST);
    fill.run(fixture.store);
    body.end(WRONG);
    await assert.rejects(fill.done, DigestMismatchError);
    await assertNothingKept(fixture, DIGEST.digest);
  });
});
