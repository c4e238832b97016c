import type { Readable } from "node:stream";
import type { ParsedDigest } from "../oci/digest.js";
import type { BlobStore, ByteRange } from "./blob-store.js";
import { BlobFill, type FillEvents, type FillSource } from "./fill.js";
import type { Spool } from "./spool.js";

export type Joined =
  | { readonly kind: "fill"; readonly fill: BlobFill; readonly reader: Readable }
  /** The download finished while we were joining: read the store instead. */
  | { readonly kind: "stored" };

/**
 * Single-flight for blob downloads: concurrent requests with the same key share one upstream
 * request and one BlobFill. The map holds the promise of the fill, set before any await, so
 * requests arriving in the same tick join too; and an upstream error before the first byte
 * (404, 429, outage) reaches every joined request from the one upstream answer.
 */
export class Coalescer {
  readonly #fills = new Map<string, Promise<BlobFill>>();
  readonly #spool: Spool;
  readonly #store: BlobStore;

  constructor(spool: Spool, store: BlobStore) {
    this.#spool = spool;
    this.#store = store;
  }

  get inflight(): number {
    return this.#fills.size;
  }

  /**
   * Reads the blob from the running download for `key`, starting one with `open` when none can
   * be joined. `rangeFor` picks the bytes once the size is known (it may throw, e.g. for an
   * unsatisfiable range; a download this call started then still completes). `onStart` runs
   * once, for the download this call started.
   */
  async join(
    key: string,
    digest: ParsedDigest,
    open: () => Promise<FillSource>,
    rangeFor: (size: number | undefined) => ByteRange | undefined,
    events: FillEvents & { onStart?(fill: BlobFill): void },
  ): Promise<Joined> {
    for (let running = this.#fills.get(key); running; ) {
      // An upstream refusal before the first byte is the answer for everyone who asked with it.
      const fill = await running;
      if (fill.joinable) {
        return { kind: "fill", fill, reader: fill.createReader(rangeFor(fill.size)) as Readable };
      }
      if (fill.state === "verified" && (await fill.done).stored) return { kind: "stored" };
      // Several requests may find this fill unjoinable together: the first starts a new one, the rest join it.
      const current = this.#fills.get(key);
      running = current === running ? undefined : current;
    }
    const starting = open().then((source) => BlobFill.create(digest, source, this.#spool, events));
    this.#fills.set(key, starting);
    const forget = () => {
      if (this.#fills.get(key) === starting) this.#fills.delete(key);
    };
    starting.then((fill) => fill.done.then(forget, forget), forget);
    const fill = await starting;
    events.onStart?.(fill);
    try {
      return { kind: "fill", fill, reader: fill.createReader(rangeFor(fill.size)) as Readable };
    } finally {
      fill.run(this.#store);
    }
  }
}
