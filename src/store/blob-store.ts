import type { ByteRange } from "../oci/range.js";
import type { StoredBody } from "./blob-body.js";
import type { BlobWriter, SessionWriter } from "./blob-writer.js";

export type { ByteRange };

/**
 * Content-addressed bytes shared by every repository. The store knows nothing of who may read
 * what (that is metadata's job) and accepts only content whose digest was already verified.
 * Implementations: the filesystem (embedded default) and S3-compatible object storage. Every
 * implementation, and the in-memory one tests use, passes `test/suites/blob-store.suite.ts`.
 */
export interface BlobStore {
  /** Size of a stored blob, or undefined when absent. Never throws for "not found". */
  stat(digest: string): Promise<number | undefined>;

  /**
   * A stored blob (or a range of it) as a body to send or read. Rejects with NotFoundError("blob")
   * when absent. The body holds what it needs (a file descriptor) until it is released.
   */
  read(digest: string, range?: ByteRange): Promise<StoredBody>;

  /**
   * Where a client may fetch a stored blob itself, when the store is set to send clients there
   * (object storage's presigned URLs); undefined when wharf serves the bytes. Says nothing of
   * whether the blob exists: ask `stat` first.
   */
  directUrl(digest: string): Promise<string | undefined>;

  /**
   * Stages a new blob. Staging is scratch: a process that ends before the commit leaves debris
   * that `sweepStaging` removes, never a blob. `expected` is the digest the caller means to commit,
   * when it knows it: a store may then write towards that blob while the bytes arrive (object
   * storage: a multipart upload under its key, invisible until the commit completes it). A commit
   * of another digest still works.
   */
  begin(expected?: string): Promise<BlobWriter>;

  /** Staging that survives restarts and is reachable from every node sharing this store. */
  readonly sessions: SessionStaging;

  /**
   * Removes what writers of `begin()` left behind when their process ended between write and
   * commit. Call once at start-up, before anything begins; durable session staging is kept.
   * Returns how many objects went.
   */
  sweepStaging(): Promise<number>;

  /** When the blob entered the store (ms since epoch), or undefined when absent. */
  storedAt(digest: string): Promise<number | undefined>;

  /** Removes a blob; absent blobs are not an error. */
  delete(digest: string): Promise<void>;

  /**
   * Moves a blob whose bytes are not its digest's out of the store, kept for whoever wants to look
   * at it but never served again. Returns where it went (for the report); undefined when absent.
   */
  quarantine(digest: string): Promise<string | undefined>;

  /** Every stored digest, for garbage collection and scrubbing. */
  digests(): AsyncIterable<string>;
}

/**
 * Durable, resumable staging named by an upload session's id: its bytes wait here between the
 * requests of a chunked push, across restarts, whichever node the next request reaches. The session's
 * offset lives in metadata, which is the truth: a resume drops whatever lies past it.
 */
export interface SessionStaging {
  /** Creates empty staging named `id` (ids are the caller's, e.g. UUIDs; unsafe names are refused). */
  create(id: string): Promise<void>;

  /**
   * A writer that appends to staging `id` from `offset`, dropping anything staged past it.
   * Rejects with NotFoundError("upload") when there is no such staging.
   */
  resume(id: string, offset: number): Promise<SessionWriter>;

  /**
   * The first `length` bytes staged under `id`, including what a writer of it appended and has
   * not suspended yet (the digest is recomputed from them when the running hash is not at hand).
   * Rejects with NotFoundError("upload") when there is no such staging.
   */
  read(id: string, length: number): AsyncIterable<Uint8Array>;

  /** Removes staging `id`; an absent one is not an error. */
  discard(id: string): Promise<void>;
}
