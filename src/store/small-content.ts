import { rm } from "node:fs/promises";
import type { BlobStore } from "./blob-store.js";
import type { Spool } from "./spool.js";

/**
 * Manifests and other small documents live in the blob store like layers do (one
 * content-addressed namespace, one garbage collector), but are read and written whole.
 */
export class SmallContent {
  readonly #store: BlobStore;
  readonly #spool: Spool;

  constructor(store: BlobStore, spool: Spool) {
    this.#store = store;
    this.#spool = spool;
  }

  /** Stores bytes already verified to be `digest`. */
  async write(digest: string, bytes: Uint8Array): Promise<void> {
    if ((await this.#store.stat(digest)) !== undefined) return;
    const { path, handle } = await this.#spool.create("doc");
    try {
      try {
        await handle.writeFile(bytes);
      } finally {
        await handle.close();
      }
      await this.#store.putFile(digest, path);
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
  }

  async read(digest: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.#store.read(digest)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
}
