import { setTimeout as sleep } from "node:timers/promises";
import type { BlobLeases, DownloadLease } from "../coordination/blob-leases.js";
import type { BlobStore } from "./blob-store.js";
import type { FillSource } from "./fill.js";
import type { PeerFills } from "./peer-fills.js";

/** The blob was stored by another node while this one waited for it: read the store. */
export class StoredMeanwhileError extends Error {
  constructor(digest: string) {
    super(`${digest} was stored by another node meanwhile`);
    this.name = "StoredMeanwhileError";
  }
}

/** Where a download's bytes come from on this node. */
export type OpenedDownload =
  /** From upstream: this node holds the lease, released once the download ended and was recorded. */
  | { readonly source: FillSource; readonly lease: DownloadLease; readonly relayed: false }
  /** From the node that downloads it: its fill keeps the blob, this one only serves it. */
  | { readonly source: FillSource; readonly relayed: true };

/** Between two looks at a holder that has not begun its download yet (or just ended it). */
const POLL_MS = 25;
/** A holder that runs no download of the key for this long is treated as unreachable. */
const PATIENCE_MS = 10_000;

/**
 * The cluster's half of the coalescer: decides, by lease, whether this node downloads a blob from
 * upstream or streams it from the node that does. A holder that cannot be reached (it died, or is
 * cut off) loses its lease to this node; a holder that says it runs no such download has either not
 * begun (asked again shortly) or finished (the lease is gone, and the blob is in the store).
 *
 * When the holder dies in the middle, a follower's fill fails like a cut upstream download: its
 * clients see a short body, and their retry (on any node) takes the lease over once it has run out.
 */
export class ClusterRelay {
  readonly #leases: BlobLeases;
  readonly #peers: PeerFills;
  readonly #store: Pick<BlobStore, "stat">;

  constructor(leases: BlobLeases, peers: PeerFills, store: Pick<BlobStore, "stat">) {
    this.#leases = leases;
    this.#peers = peers;
    this.#store = store;
  }

  async open(key: string, digest: string, upstream: () => Promise<FillSource>): Promise<OpenedDownload> {
    const started = Date.now();
    for (;;) {
      const answer = await this.#leases.take(key);
      if ("taken" in answer) return this.#download(answer.taken, digest, upstream);
      const asked = answer.node
        ? await this.#peers.open(answer.node.url, key)
        : ({ kind: "unreachable", reason: "not in the nodes table" } as const);
      if (asked.kind === "streaming") return { source: asked.source, relayed: true };
      if (asked.kind === "unreachable" || Date.now() - started > PATIENCE_MS) {
        const lease = await this.#leases.takeOver(key, answer.holder);
        if (lease) return this.#download(lease, digest, upstream);
        continue;
      }
      await sleep(POLL_MS);
    }
  }

  async #download(
    lease: DownloadLease,
    digest: string,
    upstream: () => Promise<FillSource>,
  ): Promise<OpenedDownload> {
    try {
      // Another node's download may have ended (stored, linked, lease released) between this
      // request's look at metadata and its lease: small blobs, asked for by many at once, often do.
      if ((await this.#store.stat(digest)) !== undefined) throw new StoredMeanwhileError(digest);
      return { source: await upstream(), lease, relayed: false };
    } catch (error) {
      await lease.release();
      throw error;
    }
  }
}
