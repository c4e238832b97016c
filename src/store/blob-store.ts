import type { Readable } from "node:stream";
import type { ByteRange } from "../oci/range.js";

export type { ByteRange };

/**
 * Content-addressed bytes shared by every repository. The store knows nothing of who may read
 * what (that is metadata's job) and accepts only content whose digest was already verified.
 * Implementations: the filesystem (embedded default); object storage can follow.
 */
export interface BlobStore {
  /** Size of a stored blob, or undefined when absent. Never throws for "not found". */
  stat(digest: string): Promise<number | undefined>;

  /**
   * Opens a stored blob (or a range of it) for reading. Rejects with a NotFound error when
   * absent; the stream owns its file handle and releases it when it ends or is destroyed.
   */
  read(digest: string, range?: ByteRange): Promise<Readable>;

  /**
   * Takes a local file whose content is verified to be `digest` into the store, atomically:
   * readers see the whole blob or none of it. The file is moved or consumed. Idempotent: storing a
   * digest that is already present just discards the file.
   */
  putFile(digest: string, path: string): Promise<void>;

  /** When the blob entered the store (ms since epoch), or undefined when absent. */
  storedAt(digest: string): Promise<number | undefined>;

  /** Removes a blob; absent blobs are not an error. */
  delete(digest: string): Promise<void>;

  /** Every stored digest, for garbage collection and scrubbing. */
  digests(): AsyncIterable<string>;
}

export class BlobNotFoundError extends Error {
  readonly digest: string;
  constructor(digest: string) {
    super(`blob ${digest} is not in the store`);
    this.name = "BlobNotFoundError";
    this.digest = digest;
  }
}
