import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { LocalUploadLock, type UploadLock } from "../coordination/upload-lock.js";
import type { MetadataStore, UploadRecord } from "../meta/metadata-store.js";
import { createDigester, type ParsedDigest } from "../oci/digest.js";
import { type Clock, systemClock } from "../util/clock.js";
import {
  DigestMismatchError,
  NotFoundError,
  SizeMismatchError,
  TooLargeError,
  UploadOutOfOrderError,
} from "../util/errors.js";
import type { BlobStore } from "./blob-store.js";
import { appendAll, type SessionWriter } from "./blob-writer.js";
import type { ChunkClaim, UploadLimits, UploadSessions } from "./upload-sessions.js";

type Hasher = ReturnType<typeof createDigester>;

/** What happens to upload sessions, for metrics. */
export interface UploadObserver {
  started?(repo: string): void;
  /** The closing PUT verified the digest and the blob entered the store. */
  completed?(repo: string, bytes: number): void;
  cancelled?(repo: string): void;
  /** Sessions nobody touched for too long, discarded. */
  expired?(repo: string): void;
}

export interface StagedUploadOptions {
  readonly meta: MetadataStore;
  readonly blobs: BlobStore;
  readonly limits: UploadLimits;
  readonly lock?: UploadLock;
  readonly clock?: Clock;
  readonly observer?: UploadObserver;
  /**
   * How long a request waits for the session while another request holds it, before it is refused
   * as a second writer. A client that lost its connection mid-chunk comes back at once, often
   * before wharf has seen the old connection close and let go of the session.
   */
  readonly lockWaitMs?: number;
}

/** Long enough for a dropped request to let go of its session, short against any client's timeout. */
const LOCK_WAIT_MS = 1000;
const LOCK_RETRY_MS = 20;

/**
 * Upload sessions whose row (id, repository, name, offset) is in metadata and whose bytes are in
 * the blob store's session staging, at the offset metadata records. The digest is computed while
 * the bytes arrive, so the closing PUT needs no re-read; a process that did not see every byte (it
 * restarted, or another node took the earlier chunks) reads the staged bytes back instead. The
 * blob enters the store only when it matches the digest the client names at the end.
 */
export class StagedUploadSessions implements UploadSessions {
  readonly #meta: MetadataStore;
  readonly #blobs: BlobStore;
  readonly #limits: UploadLimits;
  readonly #lock: UploadLock;
  readonly #lockWaitMs: number;
  readonly #clock: Clock;
  readonly #observer: UploadObserver;
  /** Running digests, valid for the offset they were computed up to. */
  readonly #hashers = new Map<string, { offset: number; hasher: Hasher; algorithm: string }>();

  constructor(options: StagedUploadOptions) {
    this.#meta = options.meta;
    this.#blobs = options.blobs;
    this.#limits = options.limits;
    this.#lock = options.lock ?? new LocalUploadLock();
    this.#lockWaitMs = options.lockWaitMs ?? LOCK_WAIT_MS;
    this.#clock = options.clock ?? systemClock;
    this.#observer = options.observer ?? {};
  }

  async create(repo: string, name: string): Promise<UploadRecord> {
    const now = this.#clock.now();
    const upload: UploadRecord = { id: randomUUID(), repo, name, offset: 0, createdAt: now, updatedAt: now };
    await this.#blobs.sessions.create(upload.id);
    try {
      await this.#meta.createUpload(upload);
    } catch (error) {
      await this.#blobs.sessions.discard(upload.id);
      throw error;
    }
    // Hash as bytes arrive with the algorithm nearly every client uses, so its PUT needs no re-read.
    this.#hashers.set(upload.id, { offset: 0, hasher: createDigester("sha256"), algorithm: "sha256" });
    this.#observer.started?.(repo);
    return upload;
  }

  async get(repo: string, name: string, id: string): Promise<UploadRecord> {
    const upload = /^[0-9a-f-]{36}$/.test(id) ? await this.#meta.getUpload(id) : undefined;
    if (!upload || upload.repo !== repo || upload.name !== name) throw new NotFoundError("upload", { id });
    return upload;
  }

  append(upload: UploadRecord, body: Readable, claim: ChunkClaim): Promise<UploadRecord> {
    return this.#locked(upload, async () => {
      const current = await this.#current(upload);
      this.#checkClaim(current, body, claim);
      const writer = await this.#blobs.sessions.resume(upload.id, current.offset);
      try {
        return await this.#write(current, writer, body, claim);
      } finally {
        await writer.suspend();
      }
    });
  }

  finish(
    upload: UploadRecord,
    digest: ParsedDigest,
    body: Readable | undefined,
    claim: ChunkClaim,
  ): Promise<{ digest: string; size: number }> {
    return this.#locked(upload, async () => {
      let current = await this.#current(upload);
      if (body) this.#checkClaim(current, body, claim);
      const writer = await this.#blobs.sessions.resume(upload.id, current.offset);
      try {
        if (body) current = await this.#write(current, writer, body, claim);
        const actual = await this.#digestOf(current, digest.algorithm);
        if (actual !== digest.digest) throw new DigestMismatchError(digest.digest, actual);
        await writer.commit(digest.digest);
      } finally {
        // Keeps the session as it is after a wrong digest; nothing to keep after a commit.
        await writer.suspend();
      }
      await this.#end(upload.id);
      this.#observer.completed?.(upload.repo, current.offset);
      return { digest: digest.digest, size: current.offset };
    });
  }

  cancel(upload: UploadRecord): Promise<void> {
    return this.#locked(upload, async () => {
      await this.#end(upload.id);
      await this.#blobs.sessions.discard(upload.id);
      this.#observer.cancelled?.(upload.repo);
    });
  }

  async purgeIdle(maxIdleMs: number): Promise<number> {
    let purged = 0;
    for (const upload of await this.#meta.listIdleUploads(this.#clock.now() - maxIdleMs)) {
      const lease = await this.#lock.tryLock(upload.id);
      // Being written right now: not idle after all.
      if (!lease) continue;
      try {
        await this.#end(upload.id);
        await this.#blobs.sessions.discard(upload.id);
        purged += 1;
        this.#observer.expired?.(upload.repo);
      } finally {
        await lease.release();
      }
    }
    return purged;
  }

  async #end(id: string): Promise<void> {
    this.#hashers.delete(id);
    await this.#meta.deleteUpload(id);
  }

  async #locked<T>(upload: UploadRecord, work: () => Promise<T>): Promise<T> {
    let lease = await this.#lock.tryLock(upload.id);
    // Real time, not the clock: this waits for another request, which no test clock moves.
    for (let waited = 0; !lease && waited < this.#lockWaitMs; waited += LOCK_RETRY_MS) {
      await sleep(LOCK_RETRY_MS);
      lease = await this.#lock.tryLock(upload.id);
    }
    if (!lease) throw new UploadOutOfOrderError(upload.offset, "another request is writing this upload");
    try {
      return await work();
    } finally {
      await lease.release();
    }
  }

  /** Re-read under the lock: the record the caller holds may predate another request's chunk. */
  async #current(upload: UploadRecord): Promise<UploadRecord> {
    return (await this.#meta.getUpload(upload.id)) ?? upload;
  }

  /** Refuses a chunk before a byte of it is written: out of order, or announced too large. */
  #checkClaim(current: UploadRecord, body: Readable, claim: ChunkClaim): void {
    if (claim.start !== undefined && claim.start !== current.offset) {
      body.resume();
      throw new UploadOutOfOrderError(
        current.offset,
        `chunk starts at ${claim.start}, the upload is at ${current.offset}`,
      );
    }
    if (claim.length !== undefined && current.offset + claim.length > this.#limits.maxBytes) {
      throw new TooLargeError("upload", this.#limits.maxBytes);
    }
  }

  async #write(
    current: UploadRecord,
    writer: SessionWriter,
    body: Readable,
    claim: ChunkClaim,
  ): Promise<UploadRecord> {
    const hashed = this.#hashers.get(current.id);
    const running = hashed && hashed.offset === current.offset ? hashed : undefined;
    let offset = current.offset;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (offset + chunk.byteLength > this.#limits.maxBytes) {
          throw new TooLargeError("upload", this.#limits.maxBytes);
        }
        await appendAll(writer, chunk);
        running?.hasher.update(chunk);
        offset += chunk.byteLength;
      }
    } finally {
      // Whatever arrived before a disconnect counts: the client resumes from the offset it is told.
      if (running) this.#hashers.set(current.id, { ...running, offset });
      if (offset !== current.offset) {
        // Counted only once stored where the next request finds them, whichever node it reaches.
        await writer.persist();
        await this.#meta.setUploadOffset(current.id, offset, this.#clock.now());
      }
    }
    const received = offset - current.offset;
    if (claim.length !== undefined && received !== claim.length) {
      throw new SizeMismatchError(`chunk carried ${received} bytes, Content-Length said ${claim.length}`);
    }
    return { ...current, offset, updatedAt: this.#clock.now() };
  }

  /** The digest of the session's bytes: from the running hash, or read back from the staging. */
  async #digestOf(upload: UploadRecord, algorithm: ParsedDigest["algorithm"]): Promise<string> {
    const running = this.#hashers.get(upload.id);
    if (running && running.offset === upload.offset && running.algorithm === algorithm) {
      return `${algorithm}:${running.hasher.copy().digest("hex")}`;
    }
    const hasher = createDigester(algorithm);
    for await (const chunk of this.#blobs.sessions.read(upload.id, upload.offset)) hasher.update(chunk);
    return `${algorithm}:${hasher.digest("hex")}`;
  }
}
