/**
 * Bytes on their way into a blob store. A writer stages what it is given; nothing is readable as
 * a blob until `commit` names the digest the caller verified (invariant 1), and then the whole blob
 * appears at once. A writer that ends any other way leaves nothing a reader could see.
 */
export interface BlobWriter {
  /**
   * Appends `chunks`, in order, after what is staged. Resolves with how many bytes the store took:
   * fewer than given only when it ran out of room (a nearly full disk takes part of a write), and
   * a later append then fails. Rejects when nothing could be written. One append at a time.
   */
  append(chunks: readonly Uint8Array[]): Promise<number>;

  /**
   * Makes the staged bytes the blob `digest`, atomically: readers see all of it or none. The caller
   * has verified the digest. A digest already stored is kept as it is and the staged bytes are
   * discarded. After a rejection the writer can still be aborted.
   */
  commit(digest: string): Promise<void>;

  /** Discards what is staged. Idempotent; safe after a failed append or commit, a no-op after a commit. */
  abort(): Promise<void>;

  /**
   * When the store stages in a local file: a read handle on it, which the caller closes. It keeps
   * reading what was appended, after a commit or an abort too. Undefined for stores that stage
   * elsewhere (memory, an upload session on object storage).
   */
  localFile(): Promise<LocalFile | undefined>;
}

/**
 * A writer of durable staging (an upload session): what it appended outlives the writer and the
 * process until it is committed or aborted.
 */
export interface SessionWriter extends BlobWriter {
  /**
   * Makes everything appended so far durable where the next request finds it (another process or
   * node), without ending the writer. Metadata may count bytes only once they were persisted.
   */
  persist(): Promise<void>;

  /**
   * Persists, then lets go of the writer, keeping what it staged for a later resume. Idempotent; a
   * no-op after commit or abort.
   */
  suspend(): Promise<void>;
}

/** A read handle on staged bytes in a local file: readable at any offset, and by sendfile through `fd`. */
export interface LocalFile {
  readonly fd: number;
  /** Up to `length` bytes from `position`; fewer only where the file ends. */
  read(position: number, length: number): Promise<Buffer>;
  /** Idempotent. */
  close(): Promise<void>;
}

/** Appends all of `bytes`, however many appends the store needs to take them. */
export async function appendAll(writer: BlobWriter, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.byteLength; ) {
    const taken = await writer.append([bytes.subarray(offset)]);
    if (taken === 0) throw new Error("the store took no bytes (out of room?)");
    offset += taken;
  }
}
