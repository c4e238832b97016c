import type { Readable } from "node:stream";
import type { UploadRecord } from "../meta/metadata-store.js";
import type { ParsedDigest } from "../oci/digest.js";

/** What a chunk claims about itself, from Content-Range and Content-Length. */
export interface ChunkClaim {
  /** Where the chunk starts; must be the upload's current offset. */
  readonly start?: number;
  /** How many bytes it carries, when the client said so. */
  readonly length?: number;
}

export interface UploadLimits {
  /** Largest blob an upload may grow to; beyond it the request is refused. */
  readonly maxBytes: number;
}

/**
 * Blob upload sessions: the spec's POST → PATCH… → PUT?digest= sequence. A session's bytes are
 * kept where any node can reach them and survive restarts, so a client that lost its connection can
 * ask where it stands and go on. One request writes a session at a time. Implementations pass
 * `test/suites/upload-sessions.suite.ts`.
 *
 * Failures are the domain errors of `util/errors.ts`: NotFoundError("upload") for an unknown
 * session, UploadOutOfOrderError (with the offset to resume from) for a chunk that does not start
 * where the session stands and for a second writer, TooLargeError("upload") past the limit,
 * SizeMismatchError when a chunk carried another length than it announced, DigestMismatchError
 * when the closing digest is not the content's.
 */
export interface UploadSessions {
  create(repo: string, name: string): Promise<UploadRecord>;

  /** The session, when it exists and belongs to this repository and name. */
  get(repo: string, name: string, id: string): Promise<UploadRecord>;

  /**
   * Appends one chunk at the session's offset. Whatever arrived before the body failed (a cut
   * connection) is kept and counted: the client resumes from the offset it is told. A chunk the
   * client announced too large is refused before a byte is written.
   */
  append(upload: UploadRecord, body: Readable, claim: ChunkClaim): Promise<UploadRecord>;

  /**
   * Completes the session with an optional last chunk: checks `digest`, makes the bytes that blob
   * in the store and ends the session. A wrong digest leaves the session as it was (with the last
   * chunk, if one came).
   */
  finish(
    upload: UploadRecord,
    digest: ParsedDigest,
    body: Readable | undefined,
    claim: ChunkClaim,
  ): Promise<{ digest: string; size: number }>;

  /** Ends the session and drops its bytes. */
  cancel(upload: UploadRecord): Promise<void>;

  /** Ends the sessions nobody wrote for `maxIdleMs`, skipping any being written; returns how many went. */
  purgeIdle(maxIdleMs: number): Promise<number>;
}
