import { randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import { parseDigest } from "../../src/oci/digest.js";
import { type StreamBody, streamBody } from "../../src/store/blob-body.js";
import type { BlobStore, ByteRange, SessionStaging } from "../../src/store/blob-store.js";
import type { BlobWriter, LocalFile, SessionWriter } from "../../src/store/blob-writer.js";
import { type Clock, systemClock } from "../../src/util/clock.js";
import { NotFoundError } from "../../src/util/errors.js";

/**
 * What a MemoryBlobStore keeps, apart from the store object: a test "restarts" by opening a new
 * store over the same volume. Scratch staging stays here after a "crash" too, as files in a
 * staging directory would, until `sweepStaging` removes it.
 */
export class MemoryVolume {
  readonly blobs = new Map<string, { readonly bytes: Buffer; readonly storedAt: number }>();
  /** Scratch staging by writer. */
  readonly staging = new Map<string, Buffer[]>();
  /** Upload sessions' staging by id. */
  readonly sessions = new Map<string, Buffer[]>();
  /** Blobs moved out of the store, by where they went. */
  readonly quarantined = new Map<string, Buffer>();
}

/**
 * A BlobStore in memory, for tests: it stages nowhere local (no `localFile`), so whatever reads a
 * download back uses its own spool, as it will with object storage; and it answers reads with plain
 * streams. It runs the blob store conformance suite like the filesystem store does.
 */
export class MemoryBlobStore implements BlobStore {
  readonly volume: MemoryVolume;
  readonly sessions: SessionStaging;
  readonly #clock: Clock;

  constructor(options: { volume?: MemoryVolume; clock?: Clock } = {}) {
    this.volume = options.volume ?? new MemoryVolume();
    this.#clock = options.clock ?? systemClock;
    const { sessions } = this.volume;
    this.sessions = {
      create: async (id) => {
        if (sessions.has(id)) throw new Error(`session staging ${id} exists`);
        sessions.set(id, []);
      },
      resume: async (id, offset) => {
        const parts = sessions.get(id);
        if (!parts) throw new NotFoundError("upload", { id });
        const kept = Buffer.concat(parts).subarray(0, offset);
        parts.splice(0, parts.length, Buffer.from(kept));
        return new MemoryWriter(
          parts,
          (digest) => this.#commit(digest, parts),
          () => sessions.delete(id),
        );
      },
      read: async function* (id, length) {
        const parts = sessions.get(id);
        if (!parts) throw new NotFoundError("upload", { id });
        yield Buffer.concat(parts).subarray(0, length);
      },
      discard: async (id) => {
        sessions.delete(id);
      },
    };
  }

  async stat(digest: string): Promise<number | undefined> {
    parseDigest(digest);
    return this.volume.blobs.get(digest)?.bytes.byteLength;
  }

  async storedAt(digest: string): Promise<number | undefined> {
    parseDigest(digest);
    return this.volume.blobs.get(digest)?.storedAt;
  }

  async read(digest: string, range?: ByteRange): Promise<StreamBody> {
    parseDigest(digest);
    const blob = this.volume.blobs.get(digest);
    if (!blob) throw new NotFoundError("blob", { digest });
    const bytes = range ? blob.bytes.subarray(range.start, range.end + 1) : blob.bytes;
    return streamBody(Readable.from(bytes.byteLength > 0 ? [bytes] : [], { objectMode: false }));
  }

  async directUrl(): Promise<undefined> {
    return undefined;
  }

  async begin(): Promise<BlobWriter> {
    const id = randomUUID();
    const parts: Buffer[] = [];
    this.volume.staging.set(id, parts);
    return new MemoryWriter(
      parts,
      (digest) => this.#commit(digest, parts),
      () => this.volume.staging.delete(id),
    );
  }

  async sweepStaging(): Promise<number> {
    const count = this.volume.staging.size;
    this.volume.staging.clear();
    return count;
  }

  async delete(digest: string): Promise<void> {
    parseDigest(digest);
    this.volume.blobs.delete(digest);
  }

  async quarantine(digest: string): Promise<string | undefined> {
    parseDigest(digest);
    const blob = this.volume.blobs.get(digest);
    if (!blob) return undefined;
    const place = `quarantine/${digest}-${this.volume.quarantined.size}`;
    this.volume.quarantined.set(place, blob.bytes);
    this.volume.blobs.delete(digest);
    return place;
  }

  async *digests(): AsyncIterable<string> {
    yield* [...this.volume.blobs.keys()];
  }

  #commit(digest: string, parts: readonly Buffer[]): void {
    parseDigest(digest);
    if (this.volume.blobs.has(digest)) return;
    this.volume.blobs.set(digest, { bytes: Buffer.concat(parts), storedAt: this.#clock.now() });
  }
}

/** Appends to staging parts held by the volume, so a read of session staging sees them at once. */
class MemoryWriter implements SessionWriter {
  readonly #parts: Buffer[];
  readonly #commit: (digest: string) => void;
  readonly #drop: () => void;
  /** Committed or aborted. */
  #ended = false;
  #suspended = false;

  constructor(parts: Buffer[], commit: (digest: string) => void, drop: () => void) {
    this.#parts = parts;
    this.#commit = commit;
    this.#drop = drop;
  }

  async append(chunks: readonly Uint8Array[]): Promise<number> {
    this.#assertOpen();
    let taken = 0;
    for (const chunk of chunks) {
      // Copied: callers may reuse their buffers once an append resolved.
      this.#parts.push(Buffer.from(chunk));
      taken += chunk.byteLength;
    }
    return taken;
  }

  async commit(digest: string): Promise<void> {
    this.#assertOpen();
    this.#commit(digest);
    this.#ended = true;
    this.#drop();
  }

  async abort(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.#drop();
  }

  async persist(): Promise<void> {}

  async suspend(): Promise<void> {
    this.#suspended = true;
  }

  async localFile(): Promise<LocalFile | undefined> {
    return undefined;
  }

  #assertOpen(): void {
    if (this.#ended || this.#suspended) throw new Error("the writer has ended");
  }
}
