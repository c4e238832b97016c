import { Readable } from "node:stream";
import { createDigester, type ParsedDigest } from "../oci/digest.js";
import { DigestMismatchError } from "../util/errors.js";
import type { BodyPiece, FileSpan, InProgressBody } from "./blob-body.js";
import type { ByteRange } from "./blob-store.js";
import type { BlobWriter, LocalFile } from "./blob-writer.js";
import type { DownloadStaging } from "./download-staging.js";

/** The bytes of a blob as an upstream sends them. */
export interface FillSource {
  readonly size: number | undefined;
  readonly body: Readable;
}

export class FillAbortedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FillAbortedError";
  }
}

/** The download was ended on purpose (`BlobFill.cancel`), not by the upstream. */
export class FillCancelledError extends FillAbortedError {
  constructor(reason: string) {
    super(`cancelled: ${reason}`);
    this.name = "FillCancelledError";
  }
}

export interface FillEvents {
  /** The staging could not be written (e.g. a full disk): this download continues uncached. */
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
/** The most one append takes at once (several chunks gathered into one write). */
const WRITE_BATCH_BYTES = 1 * MiB;
/** The longest received bytes wait before being written when fewer than half a batch arrived. */
const WRITE_DELAY_MS = 5;
/** Memory a pass-through download may hold for its slowest reader before it stops reading upstream. */
const PASS_THROUGH_WINDOW_BYTES = 8 * MiB;
const READ_SLICE_BYTES = 256 * 1024;
/**
 * Below this, a download's readers are sent its bytes from memory rather than following the local
 * file with sendfile: the bytes are in memory before the write sendfile would wait for is done.
 */
const SENDFILE_MIN_BYTES = 1 * MiB;

type State = "filling" | "verified" | "failed";

/**
 * One download of one blob, shared by every client that wants it while it runs (invariant 3),
 * and verified before it enters the store (invariant 1).
 *
 * The upstream body is hashed and kept in two places: a small window of its newest bytes in
 * memory, and the store's writer, fed behind it in batches, whose bytes a local file gives back
 * (the store's own staging file, or a spool file beside it: `stageDownload`). Readers that keep up
 * are served from the window as the bytes arrive; readers that fall behind, or join late from
 * byte 0, read the local file. So the first client gets bytes as they arrive, later clients need
 * no second upstream request, and neither waits for the disk. Readers never get the blob's last byte
 * before the digest checks out: a client therefore never sees a complete response with
 * unverified content; on a mismatch or a cut, every reader is destroyed and nothing enters the
 * store.
 *
 * If the staging cannot be written (full disk), the download degrades to pass-through: the window
 * keeps what the slowest reader still needs (bounded, holding the upstream when full), and
 * nothing is stored.
 */
export class BlobFill {
  readonly digest: ParsedDigest;
  readonly size: number | undefined;
  /** Settles when the download ends: resolves once verified (and stored unless pass-through). */
  readonly done: Promise<{ stored: boolean }>;
  /**
   * Settles as soon as every byte arrived and the digest matched (resolves), or the download
   * failed (rejects): before `done`, which waits for the blob to be stored (an fsync, a rename).
   */
  readonly downloaded: Promise<void>;

  readonly #source: FillSource;
  readonly #events: FillEvents;
  #running = false;
  /** Where the verified bytes go; undefined once committed or discarded. */
  #writer: BlobWriter | undefined;
  /** What the writer took, readable at any offset; closed when the last reader is gone. */
  #file: LocalFile | undefined;
  #state: State = "filling";
  #error: Error | undefined;
  #received = 0;
  /** Bytes the writer took (and the local file holds); the window holds at least everything past it. */
  #fileEnd = 0;
  /** The batch writer while it runs. */
  #writing: Promise<void> | undefined;
  /** A pending start of the batch writer for bytes too few to write at once. */
  #writeSoon: NodeJS.Timeout | undefined;
  #passThrough = false;
  #stored = false;
  /** Set once `done` settles: until then the staged bytes may still be on their way into the store. */
  #settled = false;
  #window: Array<{ offset: number; bytes: Buffer }> = [];
  #windowBytes = 0;
  readonly #readers = new Set<FillReader>();
  #waiters: Array<() => void> = [];

  private constructor(
    digest: ParsedDigest,
    source: FillSource,
    staging: DownloadStaging | undefined,
    events: FillEvents,
  ) {
    this.#source = source;
    this.#events = events;
    this.digest = digest;
    this.size = source.size;
    this.#writer = staging?.writer;
    this.#file = staging?.file;
    this.done = new Promise((resolve, reject) => {
      this.#settle = (error) => (error ? reject(error) : resolve({ stored: this.#stored }));
    });
    // Nobody may be awaiting `done`; the failure is reported through readers and the caller's log.
    this.done.catch(() => {});
    this.downloaded = new Promise((resolve, reject) => {
      this.#downloaded = (error) => (error ? reject(error) : resolve());
    });
    this.downloaded.catch(() => {});
  }

  #settle: (error?: Error) => void = () => {};
  #downloaded: (error?: Error) => void = () => {};

  /**
   * Prepares a download of `source` into what `stage` begins. Readers may be created at once; no
   * byte moves until `run()`, so readers created before it never miss one.
   */
  static async create(
    digest: ParsedDigest,
    source: FillSource,
    stage: () => Promise<DownloadStaging>,
    events: FillEvents = {},
  ): Promise<BlobFill> {
    let staging: DownloadStaging | undefined;
    let stagingError: unknown;
    try {
      staging = await stage();
    } catch (error) {
      stagingError = error;
    }
    const fill = new BlobFill(digest, source, staging, events);
    if (!staging) fill.#enterPassThrough(stagingError);
    return fill;
  }

  /**
   * Ends a download nobody reads any more (e.g. one fetched ahead for a client that went away): it
   * fails at once, so nobody joins it from now on, the upstream response is destroyed and nothing
   * it staged is kept. A reader still attached would see a short body: callers cancel only
   * downloads with `readerCount` 0. Does nothing once the download ended.
   */
  cancel(reason: string): void {
    if (this.#state !== "filling") return;
    this.#fail(new FillCancelledError(reason));
    this.#source.body.destroy();
  }

  /** Pumps the source into the writer and, once verified, commits it. Call once. */
  run(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#pump();
  }

  get state(): State {
    return this.#state;
  }

  get received(): number {
    return this.#received;
  }

  /**
   * New readers may join while the download runs and every byte from 0 is still reachable, and
   * once it is verified, while its local file holds every byte: the commit (an fsync, a rename)
   * and the link may take a while, and a client asking right then (the usual case for a blob
   * fetched ahead) is served the verified bytes at once instead of waiting for them.
   */
  get joinable(): boolean {
    if (this.#state === "verified") {
      return !this.#passThrough && this.#file !== undefined && this.#fileEnd === this.#received;
    }
    if (this.#state !== "filling") return false;
    const fileCoversFrom = this.#file ? this.#fileEnd : 0;
    const windowStart = this.#window[0]?.offset ?? this.#received;
    return windowStart <= fileCoversFrom;
  }

  get readerCount(): number {
    return this.#readers.size;
  }

  /** A stream of the blob (or a range of it) that follows the download. Undefined once not joinable. */
  createReader(range?: ByteRange): Readable | undefined {
    return this.#reader(range);
  }

  /** The blob (or a range of it) as a body that follows the download. Undefined once not joinable. */
  createBody(range?: ByteRange): InProgressBody | undefined {
    const reader = this.#reader(range);
    if (!reader) return undefined;
    return {
      kind: "in-progress",
      pieces: () => reader.pieces(),
      stream: () => reader,
      release: () => reader.destroy(),
    };
  }

  #reader(range: ByteRange | undefined): FillReader | undefined {
    if (!this.joinable) return undefined;
    const reader = new FillReader(this, range?.start ?? 0, range?.end ?? Number.POSITIVE_INFINITY);
    this.#readers.add(reader);
    return reader;
  }

  async #pump(): Promise<void> {
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
      // Cancelled: whatever the source did after that is of no use.
      if (this.#state !== "filling") return;
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
    if (this.#state !== "filling") return;
    // Proven: readers may finish now; storing it (fsync, rename) is not their business.
    this.#state = "verified";
    this.#downloaded();
    this.#wake();
    await this.#store();
    this.#settled = true;
    this.#settle();
    this.#releaseIfIdle();
  }

  /** Commits the verified bytes; a failure there only means the blob is not kept. */
  async #store(): Promise<void> {
    await this.#flush();
    const writer = this.#writer;
    if (this.#passThrough || !writer) return;
    this.#writer = undefined;
    try {
      await writer.commit(this.digest.digest);
      this.#stored = true;
    } catch (error) {
      this.#events.onStoreFailure?.(error);
      await writer.abort().catch(() => {});
    }
  }

  /** Starts the batch writer if it is idle; lets the network run ahead of the disk by a bounded backlog. */
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

  /** Waits until the writer took everything received (or it failed and this is pass-through). */
  async #flush(): Promise<void> {
    for (;;) {
      this.#startWriting();
      if (!this.#writing) return;
      await this.#writing;
    }
  }

  #startWriting(): void {
    if (this.#writing || this.#passThrough || !this.#writer || this.#fileEnd >= this.#received) return;
    this.#writing = this.#writeBatches(this.#writer).finally(() => {
      this.#writing = undefined;
      this.#discardIfUseless();
      this.#releaseIfIdle();
    });
  }

  /** Writes window bytes past #fileEnd in batches. A nearly full disk may take part of a write without an error. */
  async #writeBatches(writer: BlobWriter): Promise<void> {
    while (!this.#passThrough && this.#fileEnd < this.#received && this.#state !== "failed") {
      try {
        const bytesWritten = await writer.append(this.#unwritten(WRITE_BATCH_BYTES));
        if (bytesWritten === 0) throw new Error("staging write made no progress (disk full?)");
        this.#fileEnd += bytesWritten;
        // Readers sending straight from the local file (sendfile) wait for the disk, not the network.
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
    this.#discardIfUseless();
  }

  /**
   * Aborts the writer once nothing it holds can be stored (a failure, pass-through), as soon as no
   * append is running. Readers keep what they need through the local file.
   */
  #discardIfUseless(): void {
    const writer = this.#writer;
    if (!writer || this.#writing || !(this.#passThrough || this.#state === "failed")) return;
    this.#writer = undefined;
    void writer.abort().catch(() => {});
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
    this.#downloaded(error);
    this.#settled = true;
    this.#settle(error);
    // Destroyed now, not when they next read: an idle or paused client must not keep the file open.
    for (const reader of [...this.#readers]) reader.destroy(error);
    this.#wake();
    this.#discardIfUseless();
    this.#releaseIfIdle();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }

  #releaseIfIdle(): void {
    if (!this.#settled || this.#readers.size > 0 || this.#writing || !this.#file) return;
    const file = this.#file;
    this.#file = undefined;
    void file.close().catch(() => {});
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
   * The bytes from `position` up to `limit` that are already in the local file, for readers that
   * send them with sendfile; undefined when none are (not written yet, or only in memory).
   */
  fileSpan(position: number, limit: number): FileSpan | undefined {
    const end = Math.min(limit, this.#fileEnd);
    if (!this.#file || position >= end) return undefined;
    return { fd: this.#file.fd, start: position, length: end - position };
  }

  /**
   * A reader sending from the local file waits at its end: what arrived is written now rather than
   * when the batch fills or its delay ends, so the first bytes of a cold blob go out at once.
   */
  writeForReader(): void {
    this.#startWriting();
  }

  /** True when bytes from `position` on will never be in the local file (pass-through). */
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
    if (position < this.#fileEnd && this.#file) {
      const bytes = await this.#file.read(position, Math.min(length, this.#fileEnd - position));
      if (bytes.byteLength === 0) throw new FillAbortedError(`local file ends before byte ${position}`);
      return bytes;
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

/**
 * Streams one byte range of a BlobFill, waiting for bytes that have not arrived yet. Besides
 * being read as a stream, it hands out its next bytes as pieces (`pieces()`), spans of the local
 * file where sendfile pays off, so an HTTP response can send them without reading them.
 */
class FillReader extends Readable {
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
   * The range as pieces, each handed out once it may be sent and counted as sent when the next
   * one is asked for. A big download's pieces are spans of the local file, waited for there; a
   * small one's, and whatever exists only in memory (pass-through), are bytes.
   */
  async *pieces(): AsyncGenerator<BodyPiece> {
    const size = this.#fill.size;
    const followFile = size === undefined || size >= SENDFILE_MIN_BYTES;
    for (;;) {
      if (this.destroyed) throw this.#fill.failure() ?? new Error("the reader was released");
      const piece = await this.#nextPiece(followFile);
      if (!piece) return;
      yield piece;
      this.#advance(piece.kind === "file" ? piece.length : piece.bytes.byteLength);
    }
  }

  /**
   * Pushes one slice, or waits for one; Readable calls _read again when it wants more. Even a
   * range that stops short of the end is finished only after verification (invariant 1).
   */
  async #next(): Promise<void> {
    for (;;) {
      if (this.destroyed) return;
      const available = await this.#available();
      if (available === undefined) {
        this.push(null);
        return;
      }
      const bytes = await this.#bytesBefore(available);
      this.#advance(bytes.byteLength);
      if (!this.push(bytes)) return;
    }
  }

  /** The next piece: a span of the local file when `fromFile` and the bytes are there, bytes otherwise. */
  async #nextPiece(fromFile: boolean): Promise<BodyPiece | undefined> {
    for (;;) {
      const available = await this.#available();
      if (available === undefined) return undefined;
      if (!fromFile || this.#fill.onlyInMemory(this.position)) {
        return { kind: "bytes", bytes: await this.#bytesBefore(available) };
      }
      const span = this.#fill.fileSpan(this.position, available);
      if (span) return { kind: "file", ...span };
      const progress = this.#fill.waitForProgress();
      this.#fill.writeForReader();
      await progress;
    }
  }

  /**
   * Waits until this reader may send bytes from its position on, and says up to where
   * (exclusive); undefined once the range is out and the digest verified. Throws the download's
   * failure.
   */
  async #available(): Promise<number | undefined> {
    for (;;) {
      const failure = this.#fill.failure();
      if (failure) throw failure;
      const last = this.#last();
      if (this.position > last && this.#fill.state === "verified") return undefined;
      const available = Math.min(this.#fill.readable(), last + 1);
      if (this.position < available) return available;
      await this.#fill.waitForProgress();
    }
  }

  /** One slice of the bytes from this reader's position up to `available`. */
  #bytesBefore(available: number): Promise<Buffer> {
    return this.#fill.readAt(this.position, Math.min(READ_SLICE_BYTES, available - this.position));
  }

  /** Records that `bytes` of this reader's range went out. */
  #advance(bytes: number): void {
    this.position += bytes;
    this.#fill.readerMoved();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#fill.readerClosed(this);
    callback(error);
  }
}
