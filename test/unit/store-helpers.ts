import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { open, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import type { TestContext } from "node:test";
import { digestOf, type ParsedDigest, parseDigest } from "../../src/oci/digest.js";
import { bytesOf } from "../../src/store/blob-body.js";
import type { BlobStore, ByteRange } from "../../src/store/blob-store.js";
import { stageDownload } from "../../src/store/download-staging.js";
import { BlobFill, type FillSource } from "../../src/store/fill.js";
import { FsBlobStore } from "../../src/store/fs-blob-store.js";
import { type FileHandle, Spool } from "../../src/store/spool.js";
import { MemoryBlobStore } from "../fakes/memory-blob-store.js";
import { tempDir } from "./helpers.js";

export const MiB = 1024 * 1024;

/** Deterministic bytes without repeating patterns, so an offset mistake cannot go unnoticed. */
export function pseudoRandomBytes(length: number, seed = 1): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

export function parsedDigestOf(bytes: Uint8Array): ParsedDigest {
  return parseDigest(digestOf(bytes));
}

export function chunksOf(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += size)
    chunks.push(bytes.subarray(offset, offset + size));
  return chunks;
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Reads a stream as it flows, so a test can look at what has arrived so far. */
export function follow(stream: Readable): {
  readonly received: () => number;
  readonly done: Promise<Buffer>;
} {
  const chunks: Buffer[] = [];
  let received = 0;
  const done = new Promise<Buffer>((resolve, reject) => {
    stream.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.byteLength;
    });
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
  // A test that expects the stream to fail asserts on `done`; an unobserved one must not crash the run.
  done.catch(() => {});
  return { received: () => received, done };
}

/** Lets the event loop run `count` full turns (I/O included), without timers. */
export async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Waits, turn by turn, until `condition` holds; fails instead of hanging when it never does. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  maxTurns = 100_000,
): Promise<void> {
  for (let turn = 0; turn < maxTurns; turn++) {
    if (await condition()) return;
    await turns(1);
  }
  assert.fail(`gave up waiting until ${what}`);
}

/**
 * Awaits `work`, failing fast if it stops making progress: when `progress()` stays the same for
 * many turns of the event loop, everything that could move it has run, so the work is deadlocked.
 * Only for work that needs no disk I/O, which could legitimately take longer than a few turns.
 */
export async function unlessStalled<T>(work: Promise<T>, progress: () => number, what: string): Promise<T> {
  let settled = false;
  work.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  let last = progress();
  for (let idle = 0; !settled; ) {
    await turns(1);
    const now = progress();
    idle = now === last ? idle + 1 : 0;
    last = now;
    if (idle > 1000)
      assert.fail(`${what}: stalled at ${now} with no progress in 1000 turns of the event loop`);
  }
  return work;
}

export type StoreKind = "fs" | "memory";

/** Both kinds of store a download can write to: one that stages in a local file, one that does not. */
export const STORE_KINDS: readonly StoreKind[] = ["fs", "memory"];

export interface StoreFixture {
  readonly root: string;
  readonly kind: StoreKind;
  /** Where downloads keep their own local copy when the store stages elsewhere (memory). */
  readonly spool: Spool;
  readonly store: BlobStore;
  /** Files left in the spool directory (the fs store stages there too). */
  readonly spoolFiles: () => Promise<string[]>;
  /** Everything left staged: spool files, and the memory store's own staging. */
  readonly staged: () => Promise<string[]>;
}

export async function storeFixture(
  t: TestContext,
  options: { kind?: StoreKind; spoolFor?: (directory: string, root: string) => Spool } = {},
): Promise<StoreFixture> {
  const { kind = "fs", spoolFor } = options;
  const root = await tempDir(t, "store");
  const spoolDirectory = join(root, "tmp");
  await new Spool(spoolDirectory).init();
  const spool = spoolFor ? spoolFor(spoolDirectory, root) : new Spool(spoolDirectory);
  const spoolFiles = () => readdir(spoolDirectory);
  if (kind === "memory") {
    const store = new MemoryBlobStore();
    const staged = async () => [...(await spoolFiles()), ...store.volume.staging.keys()];
    return { root, kind, spool, store, spoolFiles, staged };
  }
  const store = new FsBlobStore({
    blobs: join(root, "blobs"),
    staging: spool,
    sessions: join(root, "uploads"),
  });
  return { root, kind, spool, store, spoolFiles, staged: spoolFiles };
}

export function reader(fill: BlobFill, range?: ByteRange): Readable {
  const created = fill.createReader(range);
  assert.ok(created, "the fill should accept a reader");
  return created;
}

export function createFill(
  fixture: StoreFixture,
  source: FillSource,
  digest: ParsedDigest,
  onSpoolFailure?: (error: unknown) => void,
): Promise<BlobFill> {
  return BlobFill.create(
    digest,
    source,
    () => stageDownload(fixture.store, fixture.spool, digest.digest),
    onSpoolFailure ? { onSpoolFailure } : {},
  );
}

/** Asserts that `bytes` are in the store, readable, and that nothing is left staged. */
export async function assertStored(fixture: StoreFixture, bytes: Buffer): Promise<void> {
  const digest = digestOf(bytes);
  // Readers finish as soon as the digest checks out; moving the file into the store follows.
  await until(async () => (await fixture.store.stat(digest)) !== undefined, "the blob enters the store");
  assert.equal(await fixture.store.stat(digest), bytes.byteLength);
  assert.ok((await bytesOf(await fixture.store.read(digest))).equals(bytes));
  await until(async () => (await fixture.staged()).length === 0, "nothing is left staged");
}

/** Asserts that nothing of a failed download is left: not in the store, not staged, not in the spool. */
export async function assertNothingKept(fixture: StoreFixture, digest: string): Promise<void> {
  assert.equal(await fixture.store.stat(digest), undefined);
  await until(async () => (await fixture.staged()).length === 0, "the staged bytes are removed");
}

/** A Spool on a full or broken disk: no file can be created. */
export class UncreatableSpool extends Spool {
  readonly failures: unknown[] = [];
  override async create(): Promise<{ path: string; handle: FileHandle }> {
    const error = Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    this.failures.push(error);
    throw error;
  }
}

/**
 * A Spool on a disk that fills up after `capacity` bytes, as a real one does: the write that
 * crosses the limit is taken in part without an error, every later write fails with ENOSPC.
 */
export class FailingWritesSpool extends Spool {
  readonly #capacity: number;

  constructor(directory: string, capacity: number) {
    super(directory);
    this.#capacity = capacity;
  }

  override async create(prefix: string): Promise<{ path: string; handle: FileHandle }> {
    const { path, handle } = await super.create(prefix);
    let room = this.#capacity;
    const noSpace = () =>
      Promise.reject(Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" }));
    const take = async (buffers: Buffer[], position: number) => {
      if (room <= 0) return noSpace();
      const whole = Buffer.concat(buffers);
      const part = whole.subarray(0, Math.min(room, whole.byteLength));
      room -= part.byteLength;
      const { bytesWritten } = await handle.write(part, 0, part.byteLength, position);
      return { bytesWritten, buffers };
    };
    const failing = new Proxy(handle, {
      get(target, property) {
        if (property === "write") {
          return (buffer: Buffer, offset: number, length: number, position: number) =>
            take([buffer.subarray(offset, offset + length)], position).then((result) => ({
              bytesWritten: result.bytesWritten,
              buffer,
            }));
        }
        if (property === "writev") return take;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    return { path, handle: failing };
  }
}

/** A Spool whose files open read-only, so the very first write fails (EBADF) with a real error. */
export class ReadOnlySpool extends Spool {
  override async create(prefix: string): Promise<{ path: string; handle: FileHandle }> {
    const path = this.pathOf(`${prefix}-read-only`);
    await writeFile(path, "");
    return { path, handle: await open(path, "r") };
  }
}

/** A source the test feeds by hand: `write`, then `end` or `destroy(error)`. */
export function manualSource(): PassThrough {
  return new PassThrough();
}

/** The chunks of a large deterministic blob, made one by one so a test never holds it whole. */
export function* lazyChunks(total: number, chunkSize: number): Generator<Buffer> {
  const block = pseudoRandomBytes(chunkSize, 7);
  for (let offset = 0, index = 0; offset < total; offset += chunkSize, index++) {
    const chunk = Buffer.from(block.subarray(0, Math.min(chunkSize, total - offset)));
    // Stamp the chunk's index so chunks differ and a reordering changes the digest.
    chunk.writeUInt32BE(index, 0);
    yield chunk;
  }
}

const lazyDigests = new Map<string, ParsedDigest>();

/** The digest of lazyChunks(total, chunkSize), hashed once per process: several tests share a blob. */
export function lazyDigest(total: number, chunkSize: number): ParsedDigest {
  const key = `${total}/${chunkSize}`;
  let digest = lazyDigests.get(key);
  if (!digest) {
    const hash = createHash("sha256");
    for (const chunk of lazyChunks(total, chunkSize)) hash.update(chunk);
    digest = parseDigest(`sha256:${hash.digest("hex")}`);
    lazyDigests.set(key, digest);
  }
  return digest;
}

/**
 * A source of lazyChunks that makes each chunk only when the download asks for it, and counts
 * what it has made: the measure of how far a download runs ahead of its readers.
 */
export function lazySource(total: number, chunkSize: number): { body: Readable; produced: () => number } {
  const chunks = lazyChunks(total, chunkSize);
  let produced = 0;
  const body = new Readable({
    highWaterMark: 1,
    read() {
      const next = chunks.next();
      if (next.done) {
        this.push(null);
        return;
      }
      produced += next.value.byteLength;
      this.push(next.value);
    },
  });
  return { body, produced: () => produced };
}
