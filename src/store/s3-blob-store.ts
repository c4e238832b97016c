import { parseDigest } from "../oci/digest.js";
import { NotFoundError } from "../util/errors.js";
import { type StreamBody, streamBody } from "./blob-body.js";
import type { BlobStore, ByteRange, SessionStaging } from "./blob-store.js";
import type { BlobWriter } from "./blob-writer.js";
import { S3_MIN_PART_BYTES, type S3Objects } from "./s3-objects.js";
import { S3SessionStaging } from "./s3-sessions.js";
import { S3ScratchWriter } from "./s3-writer.js";
import type { Spool } from "./spool.js";

const MiB = 1024 * 1024;

export interface S3BlobStoreOptions {
  readonly objects: S3Objects;
  /** Local scratch: writers stage here before the bucket, and the start-up sweep empties it. */
  readonly spool: Spool;
  /** Blob GETs are answered with a redirect to a presigned URL instead of the bytes. */
  readonly redirect: boolean;
  /** Bytes per part of a blob's multipart upload (default 16 MiB, at least 5 MiB). */
  readonly partBytes?: number;
  /** The most one upload session buffers locally before storing a segment (default 64 MiB). */
  readonly segmentBytes?: number;
  /** A multipart upload started longer ago than this is debris (default 24 h, an upload's own lifetime). */
  readonly staleUploadMs?: number;
  /** How long a redirect's presigned URL stays valid (default 15 min). */
  readonly redirectSeconds?: number;
  readonly now?: () => number;
}

/**
 * Blobs as objects of one bucket, under the configured prefix:
 *
 *   blobs/<algorithm>/<hex>   verified blobs, each written whole by one PUT, COPY or completed
 *                             multipart upload, and only under the digest the caller verified
 *   uploads/<id>/…            upload sessions (S3SessionStaging)
 *   quarantine/<alg>-<hex>-<time>   a blob whose bytes were found not to be its digest's
 *
 * Writers stage in a local spool file, and parts may already be on their way into a multipart
 * upload under the blob's key (S3ScratchWriter), which shows nothing until the commit completes it.
 * So a reader finds a blob whole or not at all (invariant 1), on every node sharing the bucket; a
 * crash leaves spool files (removed at start) and multipart uploads (aborted once older than
 * `staleUploadMs` by `sweepStaging` and `abortStaleUploads`, which the opener runs periodically:
 * another node's upload in progress is never that old).
 */
export class S3BlobStore implements BlobStore {
  readonly #objects: S3Objects;
  readonly #spool: Spool;
  readonly #redirect: boolean;
  readonly #partBytes: number;
  readonly #staleUploadMs: number;
  readonly #redirectSeconds: number;
  readonly #now: () => number;
  readonly sessions: SessionStaging;

  constructor(options: S3BlobStoreOptions) {
    this.#objects = options.objects;
    this.#spool = options.spool;
    this.#redirect = options.redirect;
    this.#partBytes = Math.max(S3_MIN_PART_BYTES, options.partBytes ?? 16 * MiB);
    this.#staleUploadMs = options.staleUploadMs ?? 24 * 3_600_000;
    this.#redirectSeconds = options.redirectSeconds ?? 15 * 60;
    this.#now = options.now ?? Date.now;
    this.sessions = new S3SessionStaging({
      objects: this.#objects,
      spool: this.#spool,
      target: blobName,
      segmentBytes: options.segmentBytes ?? 64 * MiB,
      composeByPutBytes: 4 * this.#partBytes,
    });
  }

  async stat(digest: string): Promise<number | undefined> {
    return (await this.#objects.head(blobName(digest)))?.size;
  }

  async storedAt(digest: string): Promise<number | undefined> {
    return (await this.#objects.head(blobName(digest)))?.modified;
  }

  async read(digest: string, range?: ByteRange): Promise<StreamBody> {
    const body = await this.#objects.get(blobName(digest), range);
    if (!body) throw new NotFoundError("blob", { digest });
    return streamBody(body);
  }

  async directUrl(digest: string): Promise<string | undefined> {
    return this.#redirect ? this.#objects.presign(blobName(digest), this.#redirectSeconds) : undefined;
  }

  begin(expected?: string): Promise<BlobWriter> {
    return S3ScratchWriter.create({
      objects: this.#objects,
      spool: this.#spool,
      target: blobName,
      partBytes: this.#partBytes,
      expected,
    });
  }

  async sweepStaging(): Promise<number> {
    return (await this.#spool.clean()) + (await this.abortStaleUploads());
  }

  /** Aborts multipart uploads older than `staleUploadMs`: writers that died. Returns how many. */
  async abortStaleUploads(): Promise<number> {
    const before = this.#now() - this.#staleUploadMs;
    let aborted = 0;
    for await (const upload of this.#objects.multipartUploads()) {
      if (upload.initiated >= before) continue;
      await this.#objects.abortMultipart(upload.name, upload.id);
      aborted += 1;
    }
    return aborted;
  }

  async delete(digest: string): Promise<void> {
    await this.#objects.delete([blobName(digest)]);
  }

  /**
   * Copies the blob to `quarantine/<algorithm>-<hex>-<time>` on the server, then deletes it: S3 has
   * no rename, so a reader may still get the old object until the delete lands, as it did before.
   */
  async quarantine(digest: string): Promise<string | undefined> {
    const { algorithm, hex } = parseDigest(digest);
    const name = blobName(digest);
    const found = await this.#objects.head(name);
    if (!found) return undefined;
    const target = `quarantine/${algorithm}-${hex}-${this.#now()}`;
    await this.#objects.concatenate(target, [{ name, start: 0, size: found.size }], 0);
    await this.#objects.delete([name]);
    return this.#objects.where(target);
  }

  async *digests(): AsyncIterable<string> {
    for await (const object of this.#objects.list("blobs/")) {
      const [, algorithm, hex] = object.name.split("/");
      if (algorithm && hex) yield `${algorithm}:${hex}`;
    }
  }
}

/** The object of a blob; rejects an invalid digest (DIGEST_INVALID) before it can become a key. */
function blobName(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}
