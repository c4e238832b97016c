import type { ClusterNode } from "./nodes.js";

/** A node's right to download one blob from upstream; renewed while held. */
export interface DownloadLease {
  /** Idempotent; never rejects (a lease not released runs out by itself). */
  release(): Promise<void>;
}

export type LeaseAnswer =
  | { readonly taken: DownloadLease }
  /** Another node downloads it: stream from there. `node` is undefined when it is not in the nodes table. */
  | { readonly holder: string; readonly node: ClusterNode | undefined };

/**
 * Which node downloads a blob (invariant 3 across nodes: one upstream fetch per blob, however many
 * nodes are asked for it at once). The others stream it from the holder while it downloads. A
 * lease runs out when its node stops renewing it (the node died), so another takes over.
 */
export interface BlobLeases {
  /** Takes the lease of `key` when nobody holds it or the holder's ran out; otherwise names the holder. */
  take(key: string): Promise<LeaseAnswer>;
  /**
   * Takes the lease from `holder`, whom this node could not reach: undefined when the lease changed
   * hands meanwhile (ask `take` again).
   */
  takeOver(key: string, holder: string): Promise<DownloadLease | undefined>;
}
