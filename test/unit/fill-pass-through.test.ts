import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, type TestContext, test } from "node:test";
import type { ByteRange } from "../../src/store/blob-store.js";
import { FillAbortedError } from "../../src/store/fill.js";
import { Spool } from "../../src/store/spool.js";
import {
  assertNothingKept,
  chunksOf,
  collect,
  createFill,
  FailingWritesSpool,
  lazyChunks,
  lazyDigest,
  lazySource,
  MiB,
  parsedDigestOf,
  pseudoRandomBytes,
  ReadOnlySpool,
  reader,
  type StoreFixture,
  storeFixture,
  turns,
  UncreatableSpool,
  unlessStalled,
} from "./store-helpers.js";

const BLOB = pseudoRandomBytes(256 * 1024 + 123);
const DIGEST = parsedDigestOf(BLOB);

/** One chunk per read, as a network source gives them, so spool writes happen chunk by chunk. */
function chunkedSource(bytes: Buffer, chunkSize: number): Readable {
  return Readable.from(chunksOf(bytes, chunkSize));
}

const uncreatable = (t: TestContext) => storeFixture(t, (directory) => new UncreatableSpool(directory));

describe("BlobFill: pass-through when the spool cannot be used", () => {
  const brokenSpools: ReadonlyArray<readonly [string, (t: TestContext) => Promise<StoreFixture>]> = [
    ["spool.create throws", uncreatable],
    [
      "the spool directory is a path below a regular file",
      async (t) => {
        const fixture = await storeFixture(t);
        const file = join(fixture.root, "not-a-directory");
        await writeFile(file, "");
        return { ...fixture, spool: new Spool(join(file, "tmp")) };
      },
    ],
    ["the spool file rejects every write", (t) => storeFixture(t, (directory) => new ReadOnlySpool(directory))],
    ["the spool file fills up midway", (t) => storeFixture(t, (directory) => new FailingWritesSpool(directory, 3))],
  ];

  for (const [why, makeFixture] of brokenSpools) {
    test(`${why}: readers still get exact bytes, nothing is stored`, async (t) => {
      const fixture = await makeFixture(t);
      const failures: unknown[] = [];
      const source = { size: BLOB.byteLength, body: chunkedSource(BLOB, 16 * 1024) };
      const fill = await createFill(fixture, source, DIGEST, (error) => failures.push(error));
      const ranged = { start: 5000, end: 70_000 };
      const done = [collect(reader(fill)), collect(reader(fill)), collect(reader(fill, ranged))];
      fill.run(fixture.store);

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
    const total = 48 * MiB;
    const source = lazySource(total, MiB);
    const fill = await createFill(fixture, { size: total, body: source.body }, lazyDigest(total, MiB), () => {});
    const slow = reader(fill);
    fill.run(fixture.store);

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
    const total = 48 * MiB;
    const source = lazySource(total, MiB);
    const fill = await createFill(fixture, { size: total, body: source.body }, lazyDigest(total, MiB), () => {});
    const quitter = reader(fill);
    fill.run(fixture.store);
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
    ["spooled", (t) => storeFixture(t)],
    ["pass-through", uncreatable],
  ];
  for (const [spoolKind, makeFixture] of SPOOLS) {
    for (const [why, range] of RANGES) {
      test(`a ranged reader alone on a ${spoolKind} download: ${why}`, async (t) => {
        const fixture = await makeFixture(t);
        const total = 12 * MiB;
        const expected = Buffer.concat([...lazyChunks(total, MiB)]).subarray(range.start, range.end + 1);
        const source = lazySource(total, MiB);
        const fill = await createFill(fixture, { size: total, body: source.body }, lazyDigest(total, MiB), () => {});
        const done = collect(reader(fill, range));
        fill.run(fixture.store);
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
