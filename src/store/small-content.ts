import { Lru } from "../util/lru.js";
import { bytesOf } from "./blob-body.js";
import type { BlobStore } from "./blob-store.js";
import { appendAll } from "./blob-writer.js";

/** Bytes of documents kept in memory, and the largest one kept (manifests are a few KiB). */
const CACHE_BYTES = 32 * 1024 * 1024;
const LARGEST_CACHED = 1024 * 1024;

/**
 * Manifests and other small documents live in the blob store like layers do (one
 * content-addressed namespace, one garbage collector), but are read and written whole.
 *
 * The bytes read and written are kept in memory (32 MiB, least recently used first), so a warm
 * manifest costs no disk read. Bytes named by their digest never change, so this needs no
 * invalidation: whether a repository may still serve a manifest is the metadata's to say, and
 * callers ask it first (a deleted or evicted manifest has no record, whatever is cached here).
 */
export class SmallContent {
  readonly #store: BlobStore;
  readonly #cache = new Lru<string, Buffer>({
    maxEntries: 100_000,
    maxWeight: CACHE_BYTES,
    weigh: (bytes) => bytes.byteLength,
  });

  constructor(store: BlobStore) {
    this.#store = store;
  }

  /** Stores bytes already verified to be `digest`. */
  async write(digest: string, bytes: Uint8Array): Promise<void> {
    if ((await this.#store.stat(digest)) !== undefined) return;
    const writer = await this.#store.begin(digest);
    try {
      await appendAll(writer, bytes);
      await writer.commit(digest);
    } catch (error) {
      await writer.abort();
      throw error;
    }
    this.#keep(digest, Buffer.from(bytes));
  }

  /** The document's bytes; callers must not change them (they may be shared). */
  async read(digest: string): Promise<Buffer> {
    const cached = this.#cache.get(digest);
    if (cached) return cached;
    const bytes = await bytesOf(await this.#store.read(digest));
    this.#keep(digest, bytes);
    return bytes;
  }

  #keep(digest: string, bytes: Buffer): void {
    if (bytes.byteLength <= LARGEST_CACHED) this.#cache.set(digest, bytes);
  }
}
