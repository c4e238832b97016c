import { rm } from "node:fs/promises";
import type { BlobStore } from "./blob-store.js";
import type { BlobWriter, LocalFile } from "./blob-writer.js";
import { openLocalFile } from "./local-file.js";
import type { FileHandle, Spool } from "./spool.js";

/** A download's way into the store, and a local file its readers read back while it is written. */
export interface DownloadStaging {
  readonly writer: BlobWriter;
  readonly file: LocalFile;
}

/**
 * Begins a blob for a download of `digest`. Its readers need what already arrived at any offset
 * (late joiners, readers that fell behind, sendfile): a store that stages in a local file (the
 * filesystem, object storage's scratch) offers that file; for any other store (memory) the same
 * bytes also go to a spool file for them.
 */
export async function stageDownload(
  store: BlobStore,
  spool: Spool,
  digest: string,
): Promise<DownloadStaging> {
  let writer = await store.begin(digest);
  try {
    const own = await writer.localFile();
    if (own) return { writer, file: own };
    writer = await SpoolMirror.create(writer, spool);
    return { writer, file: (await writer.localFile()) as LocalFile };
  } catch (error) {
    await writer.abort();
    throw error;
  }
}

/** How long a relayed download's commit waits for the node that downloads it to have stored the blob. */
const PEER_COMMIT_WAIT_MS = 30_000;
const PEER_COMMIT_POLL_MS = 50;

/**
 * Stages a download streamed from the node that downloads it (`ClusterRelay`): the bytes go to a
 * spool file only, for this node's readers, since that node keeps the blob. Its commit therefore
 * stores nothing: it waits until the store has the digest (that node's commit), so a verified
 * relayed download counts as stored exactly when the blob is there to link.
 */
export async function stageRelay(
  store: Pick<BlobStore, "stat">,
  spool: Spool,
  digest: string,
): Promise<DownloadStaging> {
  const writer = await SpoolMirror.create(new StoredByPeer(store, digest), spool);
  return { writer, file: (await writer.localFile()) as LocalFile };
}

/** The store's part of a relayed download: nothing to write, a commit that waits for the peer's. */
class StoredByPeer implements BlobWriter {
  readonly #store: Pick<BlobStore, "stat">;
  readonly #digest: string;

  constructor(store: Pick<BlobStore, "stat">, digest: string) {
    this.#store = store;
    this.#digest = digest;
  }

  async append(chunks: readonly Uint8Array[]): Promise<number> {
    return chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
  }

  async commit(digest: string): Promise<void> {
    if (digest !== this.#digest) throw new Error(`relayed ${this.#digest}, asked to commit ${digest}`);
    for (const started = Date.now(); (await this.#store.stat(digest)) === undefined; ) {
      if (Date.now() - started > PEER_COMMIT_WAIT_MS)
        throw new Error(`the node that downloaded ${digest} did not store it`);
      await new Promise((resolve) => setTimeout(resolve, PEER_COMMIT_POLL_MS));
    }
  }

  async abort(): Promise<void> {}

  async localFile(): Promise<undefined> {
    return undefined;
  }
}

/**
 * A writer that writes every byte to a spool file before handing it to the store's writer, so the
 * spool file always holds at least what the store took. The spool file goes when the writer ends;
 * read handles opened before keep reading it.
 */
class SpoolMirror implements BlobWriter {
  readonly #inner: BlobWriter;
  readonly #path: string;
  #handle: FileHandle | undefined;
  #position = 0;

  private constructor(inner: BlobWriter, path: string, handle: FileHandle) {
    this.#inner = inner;
    this.#path = path;
    this.#handle = handle;
  }

  static async create(inner: BlobWriter, spool: Spool): Promise<SpoolMirror> {
    const { path, handle } = await spool.create("fill");
    return new SpoolMirror(inner, path, handle);
  }

  async append(chunks: readonly Uint8Array[]): Promise<number> {
    if (!this.#handle) throw new Error("the writer has ended");
    const { bytesWritten } = await this.#handle.writev([...chunks], this.#position);
    const taken = await this.#inner.append(prefix(chunks, bytesWritten));
    this.#position += taken;
    return taken;
  }

  async commit(digest: string): Promise<void> {
    await this.#inner.commit(digest);
    await this.#drop();
  }

  async abort(): Promise<void> {
    await this.#inner.abort();
    await this.#drop();
  }

  localFile(): Promise<LocalFile> {
    return openLocalFile(this.#path);
  }

  async #drop(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(() => {});
    await rm(this.#path, { force: true });
  }
}

/** The first `length` bytes of `chunks`. */
function prefix(chunks: readonly Uint8Array[], length: number): Uint8Array[] {
  const taken: Uint8Array[] = [];
  let left = length;
  for (const chunk of chunks) {
    if (left <= 0) break;
    taken.push(chunk.byteLength <= left ? chunk : chunk.subarray(0, left));
    left -= chunk.byteLength;
  }
  return taken;
}
