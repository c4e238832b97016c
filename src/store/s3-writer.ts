import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { eachLimited } from "../util/each-limited.js";
import type { BlobWriter, LocalFile } from "./blob-writer.js";
import { openLocalFile } from "./local-file.js";
import { S3_MAX_PARTS, S3_MAX_SINGLE_BYTES, type S3Objects } from "./s3-objects.js";
import type { FileHandle, Spool } from "./spool.js";

/** How many parts of one blob are on their way to the bucket at once. */
const PARTS_IN_FLIGHT = 2;

/** A multipart upload under the blob's key and the ETags of its parts so far, by part number - 1. */
interface Multipart {
  readonly name: string;
  readonly id: Promise<string>;
  readonly etags: string[];
}

export interface ScratchWriterOptions {
  readonly objects: S3Objects;
  readonly spool: Spool;
  /** The object a verified digest becomes (validating the digest). */
  readonly target: (digest: string) => string;
  /** Bytes per part of a multipart upload (at least S3's 5 MiB). */
  readonly partBytes: number;
  /** The digest the caller expects to commit, when it knows it: parts go up while bytes arrive. */
  readonly expected: string | undefined;
}

/**
 * A blob on its way into the bucket. Every byte goes to a local spool file first, so appends cost
 * what they cost on disk and the file is there for the caller's readers (`localFile()`): a download
 * never waits for the object store. When the caller named the digest it expects, full parts leave
 * for a multipart upload under the blob's own key as they fill, behind the appends, at most
 * PARTS_IN_FLIGHT at a time; a multipart upload shows nothing under its key until it is completed,
 * which only `commit` of that digest does, so the parts already sent cost no second trip at the
 * commit. Without an expected digest (or a commit of another one), the commit sends the file.
 * Every ending removes the local file and aborts an unfinished multipart upload; what a crash leaves
 * (spool files, multipart uploads) the store's sweeps remove.
 */
export class S3ScratchWriter implements BlobWriter {
  readonly #options: ScratchWriterOptions;
  readonly #path: string;
  #handle: FileHandle | undefined;
  #size = 0;
  #ended = false;
  /** A commit or abort began: no new parts leave behind the appends. */
  #closing = false;
  /** Started with the first full part when a digest is expected. */
  #multipart: Multipart | undefined;
  /** Bytes handed to part uploads so far. */
  #queued = 0;
  readonly #inFlight = new Set<Promise<void>>();
  #failure: unknown;

  private constructor(options: ScratchWriterOptions, path: string, handle: FileHandle) {
    this.#options = options;
    this.#path = path;
    this.#handle = handle;
  }

  static async create(options: ScratchWriterOptions): Promise<S3ScratchWriter> {
    const { path, handle } = await options.spool.create("s3-blob");
    return new S3ScratchWriter(options, path, handle);
  }

  async append(chunks: readonly Uint8Array[]): Promise<number> {
    if (this.#ended || !this.#handle) throw new Error("the writer has ended");
    const { bytesWritten } = await this.#handle.writev([...chunks], this.#size);
    this.#size += bytesWritten;
    this.#sendFullParts();
    return bytesWritten;
  }

  async commit(digest: string): Promise<void> {
    if (this.#ended) throw new Error("the writer has ended");
    this.#closing = true;
    const name = this.#options.target(digest);
    const { objects } = this.#options;
    if ((await objects.head(name)) !== undefined) {
      await this.abort();
      return;
    }
    await this.#handle?.close();
    this.#handle = undefined;
    if (this.#multipart && digest === this.#options.expected) {
      await this.#completeMultipart();
    } else {
      await this.#abortMultipart();
      await uploadFile(objects, name, this.#path, this.#size, this.#options.partBytes);
    }
    this.#ended = true;
    await rm(this.#path, { force: true });
  }

  async abort(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.#closing = true;
    await this.#handle?.close().catch(() => {});
    this.#handle = undefined;
    await this.#abortMultipart().catch(() => {});
    await rm(this.#path, { force: true });
  }

  async localFile(): Promise<LocalFile> {
    if (this.#ended) throw new Error("the writer has ended");
    return openLocalFile(this.#path);
  }

  /** Starts uploads of the full parts not yet sent, as far as PARTS_IN_FLIGHT allows. */
  #sendFullParts(): void {
    const { expected, partBytes, target } = this.#options;
    if (expected === undefined || this.#closing || this.#failure !== undefined) return;
    while (this.#inFlight.size < PARTS_IN_FLIGHT && this.#size - this.#queued >= partBytes) {
      if (this.#multipart === undefined) {
        const name = target(expected);
        const id = this.#options.objects.startMultipart(name);
        // A failure to start is reported by the part uploads that wait for the id, and by the commit.
        id.catch(() => {});
        this.#multipart = { name, id, etags: [] };
      }
      this.#sendPart(this.#queued, partBytes);
      this.#queued += partBytes;
    }
  }

  #sendPart(start: number, length: number): void {
    const multipart = this.#multipart;
    if (!multipart) return;
    const number = start / this.#options.partBytes + 1;
    const sending = (async () => {
      if (number > S3_MAX_PARTS) throw new Error(`a blob this large needs more than ${S3_MAX_PARTS} parts`);
      const id = await multipart.id;
      const body = createReadStream(this.#path, { start, end: start + length - 1 });
      multipart.etags[number - 1] = await this.#options.objects.uploadPart(
        multipart.name,
        id,
        number,
        body,
        length,
      );
    })().then(
      () => {
        this.#inFlight.delete(sending);
        this.#sendFullParts();
      },
      (error: unknown) => {
        this.#inFlight.delete(sending);
        this.#failure ??= error;
      },
    );
    this.#inFlight.add(sending);
  }

  async #settleParts(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  /** Sends what is left (the last part is whatever remains), then completes the upload. */
  async #completeMultipart(): Promise<void> {
    const multipart = this.#multipart as Multipart;
    try {
      const { partBytes } = this.#options;
      while (this.#size - this.#queued > 0) {
        const length = Math.min(partBytes, this.#size - this.#queued);
        this.#sendPart(this.#queued, length);
        this.#queued += length;
        if (this.#inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(this.#inFlight);
      }
      await this.#settleParts();
      if (this.#failure !== undefined) throw this.#failure;
      await this.#options.objects.completeMultipart(multipart.name, await multipart.id, multipart.etags);
      this.#multipart = undefined;
    } catch (error) {
      await this.#abortMultipart().catch(() => {});
      throw error;
    }
  }

  async #abortMultipart(): Promise<void> {
    const multipart = this.#multipart;
    if (!multipart) return;
    this.#multipart = undefined;
    // Parts still arriving after an abort could leave storage behind: let them land first.
    await this.#settleParts();
    const id = await multipart.id.catch(() => undefined);
    if (id !== undefined) await this.#options.objects.abortMultipart(multipart.name, id);
  }
}

/** Puts `size` bytes of a local file as the object `name`: one PUT, or a multipart upload if larger. */
async function uploadFile(
  objects: S3Objects,
  name: string,
  path: string,
  size: number,
  partBytes: number,
): Promise<void> {
  if (size <= Math.min(S3_MAX_SINGLE_BYTES, 4 * partBytes)) {
    await objects.put(name, size === 0 ? Buffer.alloc(0) : createReadStream(path, { end: size - 1 }), size);
    return;
  }
  const parts = Math.ceil(size / partBytes);
  if (parts > S3_MAX_PARTS) throw new Error(`a blob this large needs more than ${S3_MAX_PARTS} parts`);
  const id = await objects.startMultipart(name);
  try {
    const etags: string[] = [];
    await eachLimited(parts, PARTS_IN_FLIGHT, async (part) => {
      const start = part * partBytes;
      const length = Math.min(partBytes, size - start);
      const body = createReadStream(path, { start, end: start + length - 1 });
      etags[part] = await objects.uploadPart(name, id, part + 1, body, length);
    });
    await objects.completeMultipart(name, id, etags);
  } catch (error) {
    await objects.abortMultipart(name, id).catch(() => {});
    throw error;
  }
}
