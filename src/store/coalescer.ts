import { type InFlight, LocalInFlight } from "../coordination/in-flight.js";
import type { ParsedDigest } from "../oci/digest.js";
import type { InProgressBody } from "./blob-body.js";
import type { BlobStore, ByteRange } from "./blob-store.js";
import { stageDownload } from "./download-staging.js";
import { BlobFill, type FillEvents, type FillSource } from "./fill.js";
import type { Spool } from "./spool.js";

export type Joined =
  | { readonly kind: "fill"; readonly fill: BlobFill; readonly body: InProgressBody }
  /** The download finished while we were joining: read the store instead. */
  | { readonly kind: "stored" };

/**
 * One download per blob: concurrent requests with the same key share one upstream request and one
 * BlobFill (who runs it is `InFlight`'s business); an upstream error before the first byte (404,
 * 429, outage) reaches every joined request from the one upstream answer.
 */
export class Coalescer {
  readonly #store: BlobStore;
  readonly #spool: Spool;
  readonly #inFlight: InFlight<BlobFill>;

  /** `spool` holds the local copy of downloads whose store stages elsewhere (see `stageDownload`). */
  constructor(store: BlobStore, spool: Spool, inFlight: InFlight<BlobFill> = new LocalInFlight()) {
    this.#store = store;
    this.#spool = spool;
    this.#inFlight = inFlight;
  }

  get inflight(): number {
    return this.#inFlight.size;
  }

  /**
   * Reads the blob from the running download for `key`, starting one with `open` when none can
   * be joined. `rangeFor` picks the bytes once the size is known (it may throw, e.g. for an
   * unsatisfiable range; a download this call started then still completes). `onStart` runs
   * once, for the download this call started.
   */
  join(
    key: string,
    digest: ParsedDigest,
    open: () => Promise<FillSource>,
    rangeFor: (size: number | undefined) => ByteRange | undefined,
    events: FillEvents & { onStart?(fill: BlobFill): void },
  ): Promise<Joined> {
    const start = async () =>
      BlobFill.create(
        digest,
        await open(),
        () => stageDownload(this.#store, this.#spool, digest.digest),
        events,
      );
    return this.#inFlight.join<Joined>(key, start, async (fill, started) => {
      if (started) {
        events.onStart?.(fill);
        try {
          return { kind: "fill", fill, body: fill.createBody(rangeFor(fill.size)) as InProgressBody };
        } finally {
          fill.run();
        }
      }
      if (fill.joinable) {
        return { kind: "fill", fill, body: fill.createBody(rangeFor(fill.size)) as InProgressBody };
      }
      if (fill.state === "verified" && (await fill.done).stored) return { kind: "stored" };
      return undefined;
    });
  }
}
