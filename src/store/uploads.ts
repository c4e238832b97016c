import { randomUUID } from "node:crypto";
import { mkdir, open, rm, truncate } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { MetadataStore, UploadRecord } from "../meta/metadata-store.js";
import { createDigester, type ParsedDigest } from "../oci/digest.js";
import { OciError } from "../oci/errors.js";
import type { BlobStore } from "./blob-store.js";

type Hasher = ReturnType<typeof createDigester>;

/** What a chunk claims about itself, from Content-Range and Content-Length. */
export interface ChunkClaim {
  /** Where the chunk starts; must be the upload's current offset. */
  readonly start?: number;
  /** How many bytes it carries, when the client said so. */
  readonly length?: number;
}

export interface UploadLimits {
  /** Largest blob an upload may grow to; beyond it the request is refused with 413. */
  readonly maxBytes: number;
}

/**
 * Blob upload sessions: the spec's POST → PATCH… → PUT?digest= sequence. Bytes go to
 * `data/uploads/<id>` at the offset recorded in metadata, so a client that lost its connection
 * can ask where it stands and go on, even across a restart. The digest is computed while the
 * bytes arrive (and recomputed from the file if the process restarted in between); the blob enters
 * the store only when it matches the digest the client names at the end.
 */
export class UploadStore {
  readonly #directory: string;
  readonly #meta: MetadataStore;
  readonly #blobs: BlobStore;
  readonly #limits: UploadLimits;
  /** Running digests, valid for the offset they were computed up to. */
  readonly #hashers = new Map<string, { offset: number; hasher: Hasher; algorithm: string }>();
  /** Sessions a request is writing right now: a second writer is refused, never interleaved. */
  readonly #busy = new Set<string>();

  constructor(directory: string, meta: MetadataStore, blobs: BlobStore, limits: UploadLimits) {
    this.#directory = directory;
    this.#meta = meta;
    this.#blobs = blobs;
    this.#limits = limits;
  }

  async init(): Promise<void> {
    await mkdir(this.#directory, { recursive: true });
  }

  #path(id: string): string {
    return join(this.#directory, id);
  }

  async create(repo: string, name: string): Promise<UploadRecord> {
    const now = Date.now();
    const upload: UploadRecord = { id: randomUUID(), repo, name, offset: 0, createdAt: now, updatedAt: now };
    await (await open(this.#path(upload.id), "w")).close();
    await this.#meta.createUpload(upload);
    // Hash as bytes arrive with the algorithm nearly every client uses, so its PUT needs no re-read.
    this.#hashers.set(upload.id, { offset: 0, hasher: createDigester("sha256"), algorithm: "sha256" });
    return upload;
  }

  /** The session, if it exists and belongs to this repository and name. */
  async get(repo: string, name: string, id: string): Promise<UploadRecord> {
    const upload = /^[0-9a-f-]{36}$/.test(id) ? await this.#meta.getUpload(id) : undefined;
    if (!upload || upload.repo !== repo || upload.name !== name) {
      throw new OciError("BLOB_UPLOAD_UNKNOWN", { detail: { id } });
    }
    return upload;
  }

  /** Appends one chunk. Out-of-order chunks are refused with 416, as the spec asks. */
  async append(upload: UploadRecord, body: Readable, claim: ChunkClaim): Promise<UploadRecord> {
    return this.#exclusive(upload, () => this.#write(upload, body, claim));
  }

  /**
   * Completes the upload with an optional last chunk: verifies `digest`, moves the bytes into
   * the store and ends the session. A wrong digest leaves the session as it was.
   */
  async finish(upload: UploadRecord, digest: ParsedDigest, body: Readable | undefined, claim: ChunkClaim) {
    return this.#exclusive(upload, async () => {
      const current = body ? await this.#write(upload, body, claim) : upload;
      const actual = await this.#digestOf(current, digest.algorithm);
      if (actual !== digest.digest) {
        throw new OciError("DIGEST_INVALID", { detail: { expected: digest.digest, actual } });
      }
      const path = this.#path(upload.id);
      await truncate(path, current.offset);
      await this.#blobs.putFile(digest.digest, path);
      await this.#end(upload.id);
      return { digest: digest.digest, size: current.offset };
    });
  }

  async cancel(upload: UploadRecord): Promise<void> {
    await this.#exclusive(upload, async () => {
      await this.#end(upload.id);
      await rm(this.#path(upload.id), { force: true });
    });
  }

  /** Removes sessions idle since `before`; returns how many. */
  async purgeIdle(before: number): Promise<number> {
    const idle = await this.#meta.listIdleUploads(before);
    for (const upload of idle) {
      if (this.#busy.has(upload.id)) continue;
      await this.#end(upload.id);
      await rm(this.#path(upload.id), { force: true });
    }
    return idle.length;
  }

  async #end(id: string): Promise<void> {
    this.#hashers.delete(id);
    await this.#meta.deleteUpload(id);
  }

  async #exclusive<T>(upload: UploadRecord, work: () => Promise<T>): Promise<T> {
    if (this.#busy.has(upload.id)) {
      throw new OciError("BLOB_UPLOAD_INVALID", {
        status: 416,
        message: "another request is writing this upload",
        headers: { range: rangeHeader(upload.offset) },
      });
    }
    this.#busy.add(upload.id);
    try {
      return await work();
    } finally {
      this.#busy.delete(upload.id);
    }
  }

  async #write(upload: UploadRecord, body: Readable, claim: ChunkClaim): Promise<UploadRecord> {
    // Re-read under the lock: the record the caller holds may predate another request's chunk.
    const current = (await this.#meta.getUpload(upload.id)) ?? upload;
    if (claim.start !== undefined && claim.start !== current.offset) {
      body.resume();
      throw new OciError("BLOB_UPLOAD_INVALID", {
        status: 416,
        message: `chunk starts at ${claim.start}, the upload is at ${current.offset}`,
        headers: { range: rangeHeader(current.offset) },
      });
    }
    // Refused before a byte is written when the client says up front that it would not fit.
    if (claim.length !== undefined && current.offset + claim.length > this.#limits.maxBytes) {
      throw this.#tooLarge();
    }
    const hashed = this.#hashers.get(upload.id);
    const running = hashed && hashed.offset === current.offset ? hashed : undefined;
    const handle = await open(this.#path(upload.id), "r+");
    let offset = current.offset;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (offset + chunk.byteLength > this.#limits.maxBytes) throw this.#tooLarge();
        await handle.write(chunk, 0, chunk.byteLength, offset);
        running?.hasher.update(chunk);
        offset += chunk.byteLength;
      }
    } finally {
      await handle.close();
      // Whatever arrived before a disconnect counts: the client resumes from the offset it is told.
      if (running) this.#hashers.set(upload.id, { ...running, offset });
      if (offset !== current.offset) await this.#meta.setUploadOffset(upload.id, offset, Date.now());
    }
    const received = offset - current.offset;
    if (claim.length !== undefined && received !== claim.length) {
      throw new OciError("SIZE_INVALID", {
        message: `chunk carried ${received} bytes, Content-Length said ${claim.length}`,
      });
    }
    return { ...current, offset, updatedAt: Date.now() };
  }

  #tooLarge(): OciError {
    return new OciError("SIZE_INVALID", {
      status: 413,
      message: `uploads are limited to ${this.#limits.maxBytes} bytes`,
    });
  }

  /** The digest of the first `offset` bytes: from the running hash, or read back from the file. */
  async #digestOf(upload: UploadRecord, algorithm: ParsedDigest["algorithm"]): Promise<string> {
    const running = this.#hashers.get(upload.id);
    if (running && running.offset === upload.offset && running.algorithm === algorithm) {
      return `${algorithm}:${running.hasher.copy().digest("hex")}`;
    }
    const hasher = createDigester(algorithm);
    if (upload.offset > 0) {
      const handle = await open(this.#path(upload.id), "r");
      try {
        const stream = handle.createReadStream({ start: 0, end: upload.offset - 1, autoClose: false });
        for await (const chunk of stream) hasher.update(chunk as Buffer);
      } finally {
        await handle.close();
      }
    }
    return `${algorithm}:${hasher.digest("hex")}`;
  }
}

/** The spec's `Range: 0-<last byte>` for an upload of `offset` bytes (`0-0` when empty). */
export function rangeHeader(offset: number): string {
  return `0-${Math.max(0, offset - 1)}`;
}
