import { constants, type Stats } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { parseDigest } from "../oci/digest.js";
import { NotFoundError } from "../util/errors.js";
import { isNotFound } from "../util/fs-errors.js";
import type { FileBody } from "./blob-body.js";
import type { BlobStore, ByteRange, SessionStaging } from "./blob-store.js";
import type { BlobWriter, LocalFile, SessionWriter } from "./blob-writer.js";
import { fsyncDirectory } from "./fsync.js";
import { openLocalFile } from "./local-file.js";
import type { FileHandle, Spool } from "./spool.js";

/** Reads in large slices: fewer syscalls and event-loop turns per gigabyte served. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Written bytes a staging file lets pile up before it hands them to the disk, without waiting:
 * the commit's fsync then finds little left, instead of a whole layer's worth at the moment its
 * client, done with the same layer, fsyncs its own copy on the same disk.
 */
const FLUSH_AHEAD_BYTES = 8 * 1024 * 1024;

/** Session ids become file names: only plain names, never a path. */
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface FsLayout {
  /** Verified blobs. */
  readonly blobs: string;
  /** Scratch staging for `begin()`; swept at start-up. */
  readonly staging: Spool;
  /** Durable staging of upload sessions, one file per session; kept across restarts. */
  readonly sessions: string;
  /** Where corrupt blobs are moved; by default `quarantine/` beside `blobs`. */
  readonly quarantine?: string;
}

/**
 * Blobs as files, one per digest:
 *
 *   <blobs>/
 *     sha256/
 *       ab/
 *         abcdef0123…   (the whole hex digest; the two-letter fan-out keeps directories small)
 *   <staging>/blob-<uuid>   a blob being written (scratch)
 *   <sessions>/<id>         an upload session's bytes (durable)
 *   <quarantine>/<alg>-<hex>-<time>   a blob whose bytes were found not to be its digest's
 *
 * A blob file exists only once complete and verified: it arrives by rename from the staging or
 * sessions directory, on the same filesystem, after an fsync of the file and before one of its
 * directory.
 */
export class FsBlobStore implements BlobStore {
  readonly #root: string;
  readonly #staging: Spool;
  readonly #sessionsDirectory: string;
  readonly #quarantine: string;
  readonly sessions: SessionStaging;

  constructor(layout: FsLayout) {
    this.#root = layout.blobs;
    this.#quarantine = layout.quarantine ?? join(dirname(layout.blobs), "quarantine");
    this.#staging = layout.staging;
    this.#sessionsDirectory = layout.sessions;
    this.sessions = {
      create: (id) => this.#createSession(id),
      resume: (id, offset) => this.#resumeSession(id, offset),
      read: (id, length) => this.#readSession(id, length),
      discard: (id) => rm(this.#sessionPath(id), { force: true }),
    };
  }

  /** Creates the staging directories; may run twice. */
  async init(): Promise<void> {
    await this.#staging.init();
    await mkdir(this.#sessionsDirectory, { recursive: true });
  }

  #path(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.#root, algorithm, hex.slice(0, 2), hex);
  }

  async #stat(digest: string): Promise<Stats | undefined> {
    try {
      return await stat(this.#path(digest));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async stat(digest: string): Promise<number | undefined> {
    return (await this.#stat(digest))?.size;
  }

  async storedAt(digest: string): Promise<number | undefined> {
    return (await this.#stat(digest))?.mtimeMs;
  }

  async read(digest: string, range?: ByteRange): Promise<FileBody> {
    let handle: FileHandle;
    try {
      handle = await open(this.#path(digest), constants.O_RDONLY);
    } catch (error) {
      if (isNotFound(error)) throw new NotFoundError("blob", { digest });
      throw error;
    }
    try {
      const size = (await handle.stat()).size;
      const start = range?.start ?? 0;
      const end = Math.min(range?.end ?? size - 1, size - 1);
      return fileBody(handle, start, Math.max(0, end - start + 1));
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async directUrl(): Promise<undefined> {
    return undefined;
  }

  async begin(): Promise<BlobWriter> {
    const { path, handle } = await this.#staging.create("blob");
    return new FsWriter(path, handle, 0, (digest) => this.#path(digest));
  }

  sweepStaging(): Promise<number> {
    return this.#staging.clean();
  }

  async delete(digest: string): Promise<void> {
    try {
      await unlink(this.#path(digest));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async quarantine(digest: string): Promise<string | undefined> {
    const { algorithm, hex } = parseDigest(digest);
    await mkdir(this.#quarantine, { recursive: true });
    const target = join(this.#quarantine, `${algorithm}-${hex}-${Date.now()}`);
    try {
      // The same filesystem (beside the blobs): a rename, so readers see the blob or nothing.
      await rename(this.#path(digest), target);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    await fsyncDirectory(dirname(this.#path(digest)));
    return target;
  }

  async *digests(): AsyncIterable<string> {
    for (const algorithm of await listDirectory(this.#root)) {
      for (const fanout of await listDirectory(join(this.#root, algorithm))) {
        for (const hex of await listDirectory(join(this.#root, algorithm, fanout))) {
          yield `${algorithm}:${hex}`;
        }
      }
    }
  }

  // ---- upload sessions ----

  #sessionPath(id: string): string {
    if (!SESSION_ID.test(id)) throw new NotFoundError("upload", { id });
    return join(this.#sessionsDirectory, id);
  }

  async #createSession(id: string): Promise<void> {
    await (await open(this.#sessionPath(id), "wx")).close();
  }

  async #resumeSession(id: string, offset: number): Promise<SessionWriter> {
    const path = this.#sessionPath(id);
    const handle = await openSession(path, id, "r+");
    try {
      await handle.truncate(offset);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new FsWriter(path, handle, offset, (digest) => this.#path(digest));
  }

  async *#readSession(id: string, length: number): AsyncIterable<Uint8Array> {
    const handle = await openSession(this.#sessionPath(id), id, "r");
    try {
      if (length === 0) return;
      const stream = handle.createReadStream({
        start: 0,
        end: length - 1,
        highWaterMark: READ_CHUNK_BYTES,
        autoClose: false,
      });
      for await (const chunk of stream) yield chunk as Buffer;
    } finally {
      await handle.close();
    }
  }
}

async function openSession(path: string, id: string, flags: "r" | "r+"): Promise<FileHandle> {
  try {
    return await open(path, flags);
  } catch (error) {
    if (isNotFound(error)) throw new NotFoundError("upload", { id });
    throw error;
  }
}

/** A stored blob's range; the read stream, once asked for, owns the handle and closes it. */
function fileBody(handle: FileHandle, start: number, length: number): FileBody {
  let owner: Readable | undefined;
  let released = false;
  return {
    kind: "file",
    fd: handle.fd,
    start,
    length,
    stream() {
      if (length === 0) return Readable.from([]);
      owner = handle.createReadStream({ start, end: start + length - 1, highWaterMark: READ_CHUNK_BYTES });
      return owner;
    },
    release() {
      if (released) return;
      released = true;
      if (owner) owner.destroy();
      else void handle.close().catch(() => {});
    },
  };
}

/**
 * Writes one staging file, scratch or durable. A commit fsyncs it and renames it to the blob's
 * path; the file is gone from staging after a commit or an abort, and stays after a suspend.
 */
class FsWriter implements SessionWriter {
  readonly #path: string;
  readonly #target: (digest: string) => string;
  #handle: FileHandle | undefined;
  #position: number;
  /** Committed or aborted: the staging file is no longer this writer's. */
  #ended = false;
  /** Written since the last flush ahead began. */
  #unflushed = 0;
  #flushing: Promise<void> | undefined;
  /**
   * A flush ahead that failed: the kernel reports a lost write once, to that call, so the commit
   * must not take a later fsync's success for the file's.
   */
  #flushFailure: unknown;

  constructor(path: string, handle: FileHandle, position: number, target: (digest: string) => string) {
    this.#path = path;
    this.#handle = handle;
    this.#position = position;
    this.#target = target;
  }

  async append(chunks: readonly Uint8Array[]): Promise<number> {
    const { bytesWritten } = await this.#open().writev([...chunks], this.#position);
    this.#position += bytesWritten;
    this.#unflushed += bytesWritten;
    if (this.#unflushed >= FLUSH_AHEAD_BYTES && !this.#flushing) this.#flushAhead();
    return bytesWritten;
  }

  async commit(digest: string): Promise<void> {
    const target = this.#target(digest);
    const handle = this.#open();
    await this.#flushing;
    if (this.#flushFailure !== undefined) throw this.#flushFailure;
    await handle.sync();
    await this.#close();
    if (await exists(target)) {
      await rm(this.#path, { force: true });
      this.#ended = true;
      return;
    }
    const directory = dirname(target);
    await renameCreatingDirectory(this.#path, target);
    this.#ended = true;
    await fsyncDirectory(directory);
  }

  async abort(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    await this.#close().catch(() => {});
    await rm(this.#path, { force: true });
  }

  /** A write is in the file, for every process, once it returned: nothing to do. */
  async persist(): Promise<void> {}

  suspend(): Promise<void> {
    return this.#close();
  }

  async localFile(): Promise<LocalFile> {
    if (this.#ended) throw new Error("the writer has ended");
    return openLocalFile(this.#path);
  }

  #open(): FileHandle {
    if (!this.#handle || this.#ended) throw new Error("the writer has ended");
    return this.#handle;
  }

  /** Starts the disk's writeback of what is written so far; appends go on meanwhile. */
  #flushAhead(): void {
    this.#unflushed = 0;
    this.#flushing = this.#open()
      .datasync()
      .catch((error: unknown) => {
        this.#flushFailure ??= error;
      })
      .finally(() => {
        this.#flushing = undefined;
      });
  }

  async #close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await this.#flushing;
    await handle?.close();
  }
}

/**
 * After the first few hundred blobs every fan-out directory exists: the rename is tried first and
 * the directory made only when the rename finds it missing, which saves a `mkdir` and a `stat`
 * (two thread-pool hops) on every blob stored.
 */
async function renameCreatingDirectory(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await mkdir(dirname(to), { recursive: true });
    await rename(from, to);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

async function listDirectory(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}
