import { unlink } from "node:fs/promises";
import { Readable } from "node:stream";
import { createDigester, type ParsedDigest } from "../oci/digest.js";
import type { BlobStore, ByteRange } from "./blob-store.js";
import type { FileHandle, Spool } from "./spool.js";

/** The bytes of a blob as an upstream sends them. */
export interface FillSource {
  readonly size: number | undefined;
  readonly body: Readable;
}

export class DigestMismatchError extends Error {
  constructor(expected: string, actual: string) {
    super(`content has digest ${actual}, expected ${expected}`);
    this.name = "DigestMismatchError";
  }
}

export class FillAbortedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FillAbortedError";
  }
}

export interface FillEvents {
  /** The spool could not be written (e.g. a full disk): this download continues uncached. */
  onSpoolFailure?(error: unknown): void;
  /** The verified blob could not be moved into the store: it was served, but is not kept. */
  onStoreFailure?(error: unknown): void;
}

/** The source's chunks; its own failures (a cut connection, a timeout) come out as FillAbortedError. */
async function* upstreamChunks(body: Readable, received: () => number): AsyncGenerator<Buffer> {
  const iterator = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await iterator.next();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new FillAbortedError(`upstream failed after ${received()} bytes: ${reason}`, { cause: error });
    }
    if (next.done) return;
    yield next.value;
  }
}

const MiB = 1024 * 1024;
/** The newest bytes a download keeps in memory: readers keeping up are served from here, not the disk. */
const WINDOW_BYTES = 2 * MiB;
/** Bytes received but not yet on disk before the download waits for the disk. */
const WRITE_BACKLOG_BYTES = 4 * MiB;
/** The most one spool write takes at once (several chunks gathered into one writev). */
const WRITE_BATCH_BYTES = 1 * MiB;
/** The longest received bytes wait before being written when fewer than half a batch arrived. */
const WRITE_DELAY_MS = 5;
/** Memory a pass-through download may hold for its slowest reader before it stops reading upstream. */
const PASS_THROUGH_WINDOW_BYTES = 8 * MiB;
const READ_SLICE_BYTES = 256 * 1024;
/** Below this, a download's readers are streamed from memory rather than sent from the spool file. */
const SENDFILE_MIN_BYTES = 1 * MiB;

type State = "filling" | "verified" | "failed";

/**
 * One download of one blob, shared by every client that wants it while it runs (invariant 3),
 * and verified before it enters the store (invariant 1).
 *
 * The upstream body is hashed and kept in two places: a small window of its newest bytes in
 * memory, and a spool file written behind it in batches. Readers that keep up are served from
 * the window as the bytes arrive; readers that fall behind, or join late from byte 0, read the
 * spool file. So the first client gets bytes as they arrive, later clients need no second
 * upstream request, and neither waits for the disk. Readers never get the blob's last byte
 * before the digest checks out: a client therefore never sees a complete response with
 * unverified content; on a mismatch or a cut, every reader is destroyed and nothing enters the
 * store.
 *
 * If the spool cannot be written (full disk), the download degrades to pass-through: the window
 * keeps what the slowest reader still needs (bounded, holding the upstream when full), and
 * nothing is stored.
 */
export class BlobFill {
  readonly digest: ParsedDigest;
  readonly size: number | undefined;
  /** Settles when the download ends: resolves once verified (and stored unless pass-through). */
  readonly done: Promise<{ stored: boolean }>;

  readonly #source: FillSource;
  readonly #events: FillEvents;
  #running = false;
  #handle: FileHandle | undefined;
  readonly #path: string | undefined;
  #state: State = "filling";
  #error: Error | undefined;
  #received = 0;
  /** Bytes safely in the spool file; the window holds at least everything past it. */
  #fileEnd = 0;
  /** The spool writer while it runs. */
  #writing: Promise<void> | undefined;
  /** A pending start of the spool writer for bytes too few to write at once. */
  #writeSoon: NodeJS.Timeout | undefined;
  #passThrough = false;
  #stored = false;
  /** Set once `done` settles: until then the spool file may still be on its way into the store. */
  #settled = false;
  #window: Array<{ offset: number; bytes: Buffer }> = [];
  #windowBytes = 0;
  readonly #readers = new Set<FillReader>();
  #waiters: Array<() => void> = [];

  private constructor(
    digest: ParsedDigest,
    source: FillSource,
    spoolFile: { path: string; handle: FileHandle } | undefined,
    events: FillEvents,
  ) {
    this.#source = source;
    this.#events = events;
    this.digest = digest;
    this.size = source.size;
    this.#path = spoolFile?.path;
    this.#handle = spoolFile?.handle;
    this.done = new Promise((resolve, reject) => {
      this.#settle = (error) => (error ? reject(error) : resolve({ stored: this.#stored }));
    });
    // Nobody may be awaiting `done`; the failure is reported through readers and the caller's log.
    this.done.catch(() => {});
  }

  #settle: (error?: Error) => void = () => {};

  /**
   * Prepares a download of `source`. Readers may be created at once; no byte moves until
   * `run()`, so readers created before it never miss one.
   */
  static async create(
    digest: ParsedDigest,
    source: FillSource,
    spool: Spool,
    events: FillEvents = {},
  ): Promise<BlobFill> {
    let spoolFile: { path: string; handle: FileHandle } | undefined;
    let spoolError: unknown;
    try {
      spoolFile = await spool.create("fill");
    } catch (error) {
      spoolError = error;
    }
    const fill = new BlobFill(digest, source, spoolFile, events);
    if (!spoolFile) fill.#enterPassThrough(spoolError);
    return fill;
  }

  /** Pumps the source into the spool and, once verified, into `store`. Call once. */
  run(store: BlobStore): void {
    if (this.#running) return;
    this.#running = true;
    void this.#pump(store);
  }

  get state(): State {
    return this.#state;
  }

  get received(): number {
    return this.#received;
  }

  /** New readers may join only while the download runs and every byte from 0 is still reachable. */
  get joinable(): boolean {
    if (this.#state !== "filling") return false;
    const fileCoversFrom = this.#handle ? this.#fileEnd : 0;
    const windowStart = this.#window[0]?.offset ?? this.#received;
    return windowStart <= fileCoversFrom;
  }

  get readerCount(): number {
    return this.#readers.size;
  }

  /** A stream of the blob (or a range of it) that follows the download. Undefined once not joinable. */
  createReader(range?: ByteRange): Readable | undefined {
    if (!this.joinable) return undefined;
    const reader = new FillReader(this, range?.start ?? 0, range?.end ?? Number.POSITIVE_INFINITY);
    this.#readers.add(reader);
    return reader;
  }

  async #pump(store: BlobStore): Promise<void> {
    const source = this.#source;
    const hasher = createDigester(this.digest.algorithm);
    try {
      for await (const chunk of upstreamChunks(source.body, () => this.#received)) {
        hasher.update(chunk);
        const offset = this.#received;
        if (this.size !== undefined && offset + chunk.byteLength > this.size) {
          throw new FillAbortedError(`upstream sent more than the announced ${this.size} bytes`);
        }
        this.#window.push({ offset, bytes: chunk });
        this.#windowBytes += chunk.byteLength;
        this.#received = offset + chunk.byteLength;
        this.#wake();
        if (this.#passThrough) await this.#drainWindow();
        else await this.#keepUpWithDisk();
      }
      if (this.size !== undefined && this.#received !== this.size) {
        throw new FillAbortedError(`upstream ended after ${this.#received} of ${this.size} bytes`);
      }
      const actual = `${this.digest.algorithm}:${hasher.digest("hex")}`;
      if (actual !== this.digest.digest) throw new DigestMismatchError(this.digest.digest, actual);
    } catch (error) {
      source.body.destroy();
      this.#fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    // Proven: readers may finish now; storing it (fsync, rename) is not their business.
    this.#state = "verified";
    this.#wake();
    await this.#store(store);
    this.#settled = true;
    this.#settle();
    this.#releaseIfIdle();
  }

  /** Moves the verified spool file into the store; a failure there only means the blob is not kept. */
  async #store(store: BlobStore): Promise<void> {
    try {
      await this.#flush();
      if (this.#passThrough) return;
      await store.putFile(this.digest.digest, this.#path as string);
      this.#stored = true;
    } catch (error) {
      this.#events.onStoreFailure?.(error);
    }
  }

  /** Starts the spool writer if it is idle; lets the network run ahead of the disk by a bounded backlog. */
  async #keepUpWithDisk(): Promise<void> {
    // Write in batches, few enough to keep thread-pool hops and sendfile calls coarse; a slow
    // upstream still gets its bytes to disk (and to sendfile readers) within a few milliseconds.
    if (this.#received - this.#fileEnd >= WRITE_BATCH_BYTES / 2) this.#startWriting();
    else
      this.#writeSoon ??= setTimeout(() => {
        this.#writeSoon = undefined;
        this.#startWriting();
      }, WRITE_DELAY_MS);
    while (!this.#passThrough && this.#received - this.#fileEnd > WRITE_BACKLOG_BYTES) {
      await this.#writing;
      this.#startWriting();
    }
    this.#trimWindow();
  }

  /** Waits until everything received is on disk (or the spool failed and this is pass-through). */
  async #flush(): Promise<void> {
    for (;;) {
      this.#startWriting();
      if (!this.#writing) return;
      await this.#writing;
    }
  }

  #startWriting(): void {
    if (this.#writing || this.#passThrough || !this.#handle || this.#fileEnd >= this.#received) return;
    this.#writing = this.#writeSpool().finally(() => {
      this.#writing = undefined;
      this.#releaseIfIdle();
    });
  }

  /** Writes window bytes past #fileEnd in batches. A nearly full disk may take part of a write without an error. */
  async #writeSpool(): Promise<void> {
    const handle = this.#handle as FileHandle;
    while (!this.#passThrough && this.#fileEnd < this.#received && this.#state !== "failed") {
      try {
        const { bytesWritten } = await handle.writev(this.#unwritten(WRITE_BATCH_BYTES), this.#fileEnd);
        if (bytesWritten === 0) throw new Error("spool write made no progress (disk full?)");
        this.#fileEnd += bytesWritten;
        // Readers sending straight from the spool file (sendfile) wait for the disk, not the network.
        this.#wake();
      } catch (error) {
        this.#enterPassThrough(error);
        return;
      }
      this.#trimWindow();
    }
  }

  /** Window slices from #fileEnd on, up to `limit` bytes, for one writev. */
  #unwritten(limit: number): Buffer[] {
    const buffers: Buffer[] = [];
    let taken = 0;
    for (const { offset, bytes } of this.#window) {
      const end = offset + bytes.byteLength;
      if (end <= this.#fileEnd) continue;
      const from = Math.max(0, this.#fileEnd - offset);
      const slice = bytes.subarray(from, Math.min(bytes.byteLength, from + limit - taken));
      buffers.push(slice);
      taken += slice.byteLength;
      if (taken >= limit) break;
    }
    return buffers;
  }

  #enterPassThrough(error: unknown): void {
    this.#passThrough = true;
    this.#events.onSpoolFailure?.(error);
  }

  /** Holds the upstream while the window is full; gives up when nobody is left to read. */
  async #drainWindow(): Promise<void> {
    // Nothing is being stored: with nobody left to read, the download has no purpose.
    if (this.#readers.size === 0) throw new FillAbortedError("pass-through download lost all its readers");
    // Readers that finished their range, or whose range starts further on, never move again: trim for them here.
    this.#trimWindow();
    while (this.#windowBytes > PASS_THROUGH_WINDOW_BYTES) {
      if (this.#readers.size === 0) throw new FillAbortedError("pass-through download lost all its readers");
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  #fail(error: Error): void {
    if (this.#state !== "filling") return;
    this.#state = "failed";
    this.#error = error;
    this.#settled = true;
    this.#settle(error);
    // Destroyed now, not when they next read: an idle or paused client must not keep the spool open.
    for (const reader of [...this.#readers]) reader.destroy(error);
    this.#wake();
    this.#releaseIfIdle();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }

  #releaseIfIdle(): void {
    if (!this.#settled || this.#readers.size > 0 || this.#writing || !this.#handle) return;
    const handle = this.#handle;
    this.#handle = undefined;
    void handle.close().catch(() => {});
    if (!this.#stored && this.#path) void unlink(this.#path).catch(() => {});
  }

  // ---- the reader side, used by FillReader only ----

  /**
   * How far readers may read now: never the blob's last byte before verification. With no
   * announced size any byte may be the last, so the newest one is always held back.
   */
  readable(): number {
    if (this.#state === "verified") return this.#received;
    return this.size === undefined
      ? Math.max(0, this.#received - 1)
      : Math.min(this.#received, this.size - 1);
  }

  failure(): Error | undefined {
    return this.#state === "failed" ? (this.#error ?? new Error("download failed")) : undefined;
  }

  /** Ends at `total` when the download is verified and the reader has everything. */
  totalIfKnown(): number | undefined {
    return this.#state === "verified" ? this.#received : this.size;
  }

  waitForProgress(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * The bytes from `position` up to `limit` that are already in the spool file, for readers that
   * send them with sendfile; undefined when none are (not written yet, or only in memory).
   */
  fileSpan(position: number, limit: number): FileSpan | undefined {
    const end = Math.min(limit, this.#fileEnd);
    if (!this.#handle || position >= end) return undefined;
    return { fd: this.#handle.fd, start: position, length: end - position };
  }

  /** True when bytes from `position` on will never be in the spool file (pass-through). */
  onlyInMemory(position: number): boolean {
    return this.#passThrough && position >= this.#fileEnd;
  }

  async readAt(position: number, length: number): Promise<Buffer> {
    const windowStart = this.#window[0]?.offset ?? this.#received;
    if (position >= windowStart) {
      for (const slice of this.#window) {
        if (position < slice.offset + slice.bytes.byteLength) {
          const start = position - slice.offset;
          return slice.bytes.subarray(start, Math.min(slice.bytes.byteLength, start + length));
        }
      }
    }
    if (position < this.#fileEnd && this.#handle) {
      const wanted = Math.min(length, this.#fileEnd - position);
      const buffer = Buffer.allocUnsafe(wanted);
      const { bytesRead } = await this.#handle.read(buffer, 0, wanted, position);
      if (bytesRead === 0) throw new FillAbortedError(`spool file ends before byte ${position}`);
      return bytesRead === wanted ? buffer : buffer.subarray(0, bytesRead);
    }
    throw new FillAbortedError(`byte ${position} is no longer held for this reader`);
  }

  /** Drops window slices every reader has passed, letting a held upstream continue. */
  readerMoved(): void {
    if (this.#trimWindow()) this.#wake();
  }

  /**
   * Drops window slices nobody needs: beyond the window's size, slices already on disk (late
   * readers find them in the spool file); in pass-through, also slices every reader has passed.
   * Returns whether anything was dropped.
   */
  #trimWindow(): boolean {
    const before = this.#windowBytes;
    let lowest = Number.POSITIVE_INFINITY;
    if (this.#passThrough) for (const reader of this.#readers) lowest = Math.min(lowest, reader.neededFrom);
    while (this.#window.length > 0) {
      const first = this.#window[0] as { offset: number; bytes: Buffer };
      const end = first.offset + first.bytes.byteLength;
      const onDisk = end <= this.#fileEnd && this.#windowBytes > WINDOW_BYTES;
      if (!onDisk && !(this.#passThrough && end <= lowest)) break;
      this.#window.shift();
      this.#windowBytes -= first.bytes.byteLength;
    }
    return this.#windowBytes !== before;
  }

  readerClosed(reader: FillReader): void {
    this.#readers.delete(reader);
    this.readerMoved();
    this.#releaseIfIdle();
  }
}

/** A run of a reader's next bytes that sit in the spool file. */
export interface FileSpan {
  readonly fd: number;
  readonly start: number;
  readonly length: number;
}

/**
 * Streams one byte range of a BlobFill, waiting for bytes that have not arrived yet. Besides
 * being read as a stream, it can hand out its next bytes as spans of the spool file
 * (`nextFileSpan` / `advance`), so an HTTP response can send them with sendfile.
 */
export class FillReader extends Readable {
  position: number;
  readonly #fill: BlobFill;
  readonly #end: number;
  #busy = false;

  constructor(fill: BlobFill, start: number, end: number) {
    super({ highWaterMark: READ_SLICE_BYTES });
    // The fill reports its failure once; a reader destroyed before anyone piped it must not crash the process.
    this.on("error", () => {});
    this.#fill = fill;
    this.position = start;
    this.#end = end;
  }

  override _read(): void {
    if (this.#busy) return;
    this.#busy = true;
    this.#next().then(
      () => {
        this.#busy = false;
      },
      (error: unknown) => {
        this.#busy = false;
        this.destroy(error instanceof Error ? error : new Error(String(error)));
      },
    );
  }

  /** The first byte this reader still needs; a reader done with its range holds nothing back. */
  get neededFrom(): number {
    return this.position > this.#end ? Number.POSITIVE_INFINITY : this.position;
  }

  /** The last byte this reader may send: its range's end, or the blob's once known. */
  #last(): number {
    const total = this.#fill.totalIfKnown();
    return Math.min(this.#end, total === undefined ? Number.POSITIVE_INFINITY : total - 1);
  }

  /**
   * Waits for the next bytes and returns them as a span of the spool file; "end" when the range
   * is complete (after verification), "stream" when the rest exists only in memory and must be
   * read as a stream. Throws the download's failure.
   */
  async nextFileSpan(): Promise<FileSpan | "end" | "stream"> {
    for (;;) {
      const failure = this.#fill.failure();
      if (failure) throw failure;
      const last = this.#last();
      if (this.position > last && this.#fill.state === "verified") return "end";
      const available = Math.min(this.#fill.readable(), last + 1);
      const span = this.#fill.fileSpan(this.position, available);
      if (span) return span;
      if (this.#fill.onlyInMemory(this.position)) return "stream";
      await this.#fill.waitForProgress();
    }
  }

  /**
   * Whether following the spool file with sendfile pays off: for small blobs the bytes are in
   * memory before the spool write that sendfile would wait for has finished.
   */
  get worthSendfile(): boolean {
    return this.#fill.size === undefined || this.#fill.size >= SENDFILE_MIN_BYTES;
  }

  /** Records that `bytes` of this reader's range went out by another way than reading it. */
  advance(bytes: number): void {
    this.position += bytes;
    this.#fill.readerMoved();
  }

  /**
   * Pushes one slice, or waits for one; Readable calls _read again when it wants more. Even a
   * range that stops short of the end is finished only after verification (invariant 1).
   */
  async #next(): Promise<void> {
    for (;;) {
      if (this.destroyed) return;
      const failure = this.#fill.failure();
      if (failure) throw failure;
      const last = this.#last();
      if (this.position > last) {
        if (this.#fill.state === "verified") {
          this.push(null);
          return;
        }
        await this.#fill.waitForProgress();
        continue;
      }
      const available = Math.min(this.#fill.readable(), last + 1);
      if (this.position >= available) {
        await this.#fill.waitForProgress();
        continue;
      }
      const slice = await this.#fill.readAt(
        this.position,
        Math.min(READ_SLICE_BYTES, available - this.position),
      );
      this.position += slice.byteLength;
      this.#fill.readerMoved();
      if (!this.push(slice)) return;
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#fill.readerClosed(this);
    callback(error);
  }
}
