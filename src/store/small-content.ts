import { bytesOf } from "./blob-body.js";
import type { BlobStore } from "./blob-store.js";
import { appendAll } from "./blob-writer.js";

/**
 * Manifests and other small documents live in the blob store like layers do (one
 * content-addressed namespace, one garbage collector), but are read and written whole.
 */
export class SmallContent {
  readonly #store: BlobStore;

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
  }

  async read(digest: string): Promise<Buffer> {
    return bytesOf(await this.#store.read(digest));
  }
}
