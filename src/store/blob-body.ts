import type { Readable } from "node:stream";

/**
 * What a blob response carries, declared by whoever produced it so that the HTTP layer chooses how
 * to send it from the kind alone (sendfile, a pipe, a redirect), never by looking at a stream's type.
 *
 *   file         a stored blob (or a range of it) in a local file: sendfile can take it
 *   in-progress  a download still arriving: pieces in a local file or in memory, as they come
 *   stream       bytes with nothing to exploit (an in-memory store, a remote backend)
 *   redirect     the client fetches the bytes elsewhere (object storage's presigned URLs)
 *
 * Every kind but redirect must be released once: after it was sent, or instead (a HEAD, a client
 * that left first). `release()` is idempotent.
 */
export type BlobBody = FileBody | InProgressBody | StreamBody | RedirectBody;

/** The kinds that carry bytes. */
export type BytesBody = FileBody | InProgressBody | StreamBody;

/** What a store hands back for a blob it holds: bytes wharf can read itself, never a redirect. */
export type StoredBody = FileBody | StreamBody;

/** `length` bytes of a local file from `start`: what sendfile(2) needs. */
export interface FileSpan {
  readonly fd: number;
  readonly start: number;
  readonly length: number;
}

interface Releasable {
  /** The bytes as a stream, for senders that cannot use a descriptor (TLS, no addon). Call at most once. */
  stream(): Readable;
  /** Lets go of what the body holds (a file, a download's reader); idempotent, safe after the stream ended. */
  release(): void;
}

/** A stored blob's bytes in a local file; the descriptor stays valid until `release()`. */
export interface FileBody extends FileSpan, Releasable {
  readonly kind: "file";
}

/** One piece of a download in progress: a span of a local file, or bytes held in memory. */
export type BodyPiece =
  | ({ readonly kind: "file" } & FileSpan)
  | { readonly kind: "bytes"; readonly bytes: Buffer };

/** A blob still downloading: its bytes are handed out as they arrive, the last one only once verified. */
export interface InProgressBody extends Releasable {
  readonly kind: "in-progress";
  /**
   * The pieces in order, each waited for; the iteration ends once the range is out and the digest
   * checked, and throws the download's failure. A file piece's descriptor is valid until the next
   * piece is asked for. Use either this or `stream()`, once.
   */
  pieces(): AsyncIterable<BodyPiece>;
}

export interface StreamBody extends Releasable {
  readonly kind: "stream";
}

/** The client is sent to `url` for the bytes (HTTP 307). */
export interface RedirectBody {
  readonly kind: "redirect";
  readonly url: string;
}

/** A stream as a body; releasing it destroys the stream. */
export function streamBody(stream: Readable): StreamBody {
  return {
    kind: "stream",
    stream: () => stream,
    release: () => stream.destroy(),
  };
}

/** Every byte of a body, read whole (manifests, and tests); rejects when a download fails. */
export async function bytesOf(body: BytesBody): Promise<Buffer> {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of body.stream()) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } finally {
    body.release();
  }
}
