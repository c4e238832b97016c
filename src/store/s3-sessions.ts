import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { NotFoundError } from "../util/errors.js";
import type { SessionStaging } from "./blob-store.js";
import type { SessionWriter } from "./blob-writer.js";
import type { ObjectRange, Segment } from "./s3-compose.js";
import type { S3Objects } from "./s3-objects.js";
import type { FileHandle, Spool } from "./spool.js";

/** Session ids become object names: only plain names, never a path (as on disk). */
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Segments are named by their first byte's offset, zero-padded so that names sort by offset. */
const OFFSET_DIGITS = 16;

export interface SessionStagingOptions {
  readonly objects: S3Objects;
  readonly spool: Spool;
  /** The object a verified digest becomes (validating the digest). */
  readonly target: (digest: string) => string;
  /** A PATCH longer than this is stored as several segments of this size (bounding what is lost to a crash). */
  readonly segmentBytes: number;
  /** Below this, a session of several segments is composed by one PUT of its bytes read back. */
  readonly composeByPutBytes: number;
}

/**
 * Upload sessions' bytes in the bucket, where every node reaches them:
 *
 *   uploads/<id>/session              created with the session; its absence means "no such upload"
 *   uploads/<id>/s<offset, 16 digits> a segment: the bytes of one request (or of a long request's
 *                                     `segmentBytes`), from that offset
 *
 * A request may bring any number of bytes, and S3 has no append: each request's bytes are buffered
 * in a local spool file and stored as their own segment object when the request ends (`persist`,
 * before metadata counts them) or fills a segment, so whichever node takes the next request finds
 * them. A resume trims the segments to the offset metadata recorded. The commit concatenates the
 * segments into the blob's object (`S3Objects.concatenate`: server-side copies of whatever is large
 * enough to be a part, re-uploads of only the small pieces between), which shows nothing until it
 * is complete, so no reader ever sees a part of the blob; an interrupted one is aborted by the
 * store's sweep of stale uploads.
 */
export class S3SessionStaging implements SessionStaging {
  readonly #options: SessionStagingOptions;
  /** The writers of this process, so a read includes what they have not persisted yet. */
  readonly #writers = new Map<string, S3SessionWriter>();

  constructor(options: SessionStagingOptions) {
    this.#options = options;
  }

  async create(id: string): Promise<void> {
    await this.#options.objects.put(markerOf(checked(id)), Buffer.alloc(0), 0);
  }

  async resume(id: string, offset: number): Promise<SessionWriter> {
    const segments = await this.#segments(id);
    const kept = await this.#trim(id, segments, offset);
    const writer = new S3SessionWriter(id, offset, kept, this.#options, {
      ended: () => this.#writers.delete(id),
      discard: () => this.discard(id),
    });
    this.#writers.set(id, writer);
    return writer;
  }

  async *read(id: string, length: number): AsyncIterable<Uint8Array> {
    await this.#writers.get(id)?.persist();
    const segments = await this.#segments(id);
    const ranges: ObjectRange[] = [];
    for (const segment of segments) {
      if (segment.start >= length) break;
      ranges.push({ from: segment.name, start: 0, end: Math.min(segment.size, length - segment.start) - 1 });
    }
    yield* this.#options.objects.readRanges(ranges);
  }

  async discard(id: string): Promise<void> {
    const { objects } = this.#options;
    const names: string[] = [];
    for await (const object of objects.list(`${sessionPrefix(checked(id))}`)) names.push(object.name);
    // The marker goes last: until then the session is still found, and a retry finishes the job.
    const marker = markerOf(id);
    await objects.delete(names.filter((name) => name !== marker));
    await objects.delete([marker]);
  }

  /** The session's segments in offset order; NotFoundError("upload") when there is no such session. */
  async #segments(id: string): Promise<Segment[]> {
    const prefix = sessionPrefix(checked(id));
    let found = false;
    const segments: Segment[] = [];
    for await (const object of this.#options.objects.list(prefix)) {
      const leaf = object.name.slice(prefix.length);
      if (leaf === "session") found = true;
      else if (/^s\d+$/.test(leaf))
        segments.push({ name: object.name, start: Number(leaf.slice(1)), size: object.size });
    }
    if (!found) throw new NotFoundError("upload", { id });
    return segments.sort((a, b) => a.start - b.start);
  }

  /** Drops what lies past `offset` (metadata is the truth) and checks that the rest covers 0..offset. */
  async #trim(id: string, segments: readonly Segment[], offset: number): Promise<Segment[]> {
    const { objects } = this.#options;
    const kept: Segment[] = [];
    const past: string[] = [];
    for (const segment of segments) {
      if (segment.start >= offset) past.push(segment.name);
      else if (segment.start + segment.size <= offset) kept.push(segment);
      else {
        // Persisted, but the offset that counts it was never recorded: keep only what metadata counts.
        const size = offset - segment.start;
        const head = await objects.get(segment.name, { start: 0, end: size - 1 });
        if (!head) throw new Error(`segment ${segment.name} vanished`);
        await objects.put(segment.name, head, size);
        kept.push({ ...segment, size });
      }
    }
    await objects.delete(past);
    let covered = 0;
    for (const segment of kept) {
      if (segment.start !== covered) break;
      covered += segment.size;
    }
    if (covered !== offset)
      throw new Error(`upload ${id} holds ${covered} of its ${offset} bytes in the bucket`);
    return kept;
  }
}

interface WriterHooks {
  /** The writer let go of the session (suspended, committed or aborted). */
  ended(): void;
  discard(): Promise<void>;
}

/** A local spool file holding bytes of one segment-to-be. */
interface Tail {
  readonly start: number;
  readonly path: string;
  readonly handle: FileHandle;
  size: number;
}

/**
 * Appends to one session from an offset: bytes gather in a local spool file and become a segment
 * object once `segmentBytes` arrived (uploaded behind further appends, one at a time) or when the
 * caller persists them.
 */
class S3SessionWriter implements SessionWriter {
  readonly #id: string;
  readonly #options: SessionStagingOptions;
  readonly #hooks: WriterHooks;
  readonly #segments: Segment[];
  /** Where the next appended byte goes. */
  #offset: number;
  #tail: Tail | undefined;
  /** A full segment on its way to the bucket. */
  #storing: Promise<void> | undefined;
  #ended = false;

  constructor(
    id: string,
    offset: number,
    segments: Segment[],
    options: SessionStagingOptions,
    hooks: WriterHooks,
  ) {
    this.#id = id;
    this.#offset = offset;
    this.#segments = segments;
    this.#options = options;
    this.#hooks = hooks;
  }

  async append(chunks: readonly Uint8Array[]): Promise<number> {
    if (this.#ended) throw new Error("the writer has ended");
    const tail = this.#tail ?? (await this.#newTail());
    const { bytesWritten } = await tail.handle.writev([...chunks], tail.size);
    tail.size += bytesWritten;
    this.#offset += bytesWritten;
    if (tail.size >= this.#options.segmentBytes) {
      // One segment uploads while the next fills; a third waits for the upload.
      await this.#storing;
      this.#tail = undefined;
      this.#storing = this.#store(tail);
    }
    return bytesWritten;
  }

  async persist(): Promise<void> {
    await this.#storing;
    const tail = this.#tail;
    if (!tail) return;
    this.#tail = undefined;
    await this.#store(tail);
  }

  async suspend(): Promise<void> {
    if (this.#ended) return;
    try {
      await this.persist();
    } finally {
      await this.#end();
    }
  }

  async commit(digest: string): Promise<void> {
    if (this.#ended) throw new Error("the writer has ended");
    await this.persist();
    const name = this.#options.target(digest);
    const { objects } = this.#options;
    if ((await objects.head(name)) === undefined) {
      await objects.concatenate(name, this.#segments, this.#options.composeByPutBytes);
    }
    await this.#hooks.discard();
    await this.#end();
  }

  async abort(): Promise<void> {
    if (this.#ended) return;
    await this.#storing?.catch(() => {});
    await this.#end();
    await this.#hooks.discard();
  }

  async localFile(): Promise<undefined> {
    return undefined;
  }

  async #newTail(): Promise<Tail> {
    const { path, handle } = await this.#options.spool.create("s3-session");
    this.#tail = { start: this.#offset, path, handle, size: 0 };
    return this.#tail;
  }

  /** Stores a tail as its segment, then removes its local file (kept on failure until the writer ends). */
  async #store(tail: Tail): Promise<void> {
    const name = `${sessionPrefix(this.#id)}s${String(tail.start).padStart(OFFSET_DIGITS, "0")}`;
    try {
      await this.#options.objects.put(name, createReadStream(tail.path, { end: tail.size - 1 }), tail.size);
      this.#segments.push({ name, start: tail.start, size: tail.size });
    } finally {
      await tail.handle.close().catch(() => {});
      await rm(tail.path, { force: true });
    }
  }

  async #end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.#hooks.ended();
    const tail = this.#tail;
    this.#tail = undefined;
    if (tail) {
      await tail.handle.close().catch(() => {});
      await rm(tail.path, { force: true });
    }
  }
}

function checked(id: string): string {
  if (!SESSION_ID.test(id)) throw new NotFoundError("upload", { id });
  return id;
}

function sessionPrefix(id: string): string {
  return `uploads/${id}/`;
}

function markerOf(id: string): string {
  return `${sessionPrefix(id)}session`;
}
