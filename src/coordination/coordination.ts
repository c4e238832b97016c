import type { BlobLeases } from "./blob-leases.js";
import type { IngestGuard } from "./ingest-guard.js";
import { LocalIngestGuard } from "./ingest-guard.js";
import { type Invalidations, LocalInvalidations } from "./invalidation.js";
import type { NodeAuth } from "./node-auth.js";
import { LocalNodeDirectory, type NodeDirectory } from "./nodes.js";
import type { SigningKeySource } from "./signing-key.js";
import { LocalTokenCache, type TokenCache } from "./token-cache.js";
import { LocalTurn, type Turn } from "./turn.js";
import { LocalUploadLock, type UploadLock } from "./upload-lock.js";
import { LocalUpstreamState, type UpstreamState } from "./upstream-state.js";

/** Topics of the invalidations. */
export const TOPICS = {
  /** Users or API tokens changed (also announced by the auth tables' trigger on PostgreSQL). */
  auth: "auth",
  /** Content metadata changed, by repository and name. */
  metadata: "metadata",
} as const;

export interface SharedDownloads {
  readonly leases: BlobLeases;
  readonly auth: NodeAuth;
}

/**
 * Everything a node shares with the others, from one backend: this process alone
 * (`LocalCoordination`, the embedded default) or the cluster's PostgreSQL
 * (`PostgresCoordination`). `store/open-stores.ts` opens it, beside the stores it belongs with;
 * the services that need a piece take it from here, so none of them knows which backend it is.
 */
export interface Coordination {
  /** The rate-limit state of the proxy repository `repo`'s upstream. */
  upstreamState(repo: string): UpstreamState;
  /**
   * The Bearer tokens of `repo`'s upstream: per node in both backends. A token request costs no
   * pull on Docker Hub, and a token kept in the database would be a credential at rest.
   */
  tokenCache(repo: string): TokenCache;
  /** The key that signs registry tokens, when it is shared; undefined: the data directory's file. */
  readonly signingKey: SigningKeySource | undefined;
  readonly uploadLock: UploadLock;
  readonly ingests: IngestGuard;
  /** Eviction's turn: one node evicts at a time. */
  readonly eviction: Turn;
  /**
   * How caches hear of each other's changes to `topic`: across nodes, listeners hear `everything`
   * when some change may have been missed (or one cannot be read).
   */
  invalidations<Change>(topic: string, everything: Change): Invalidations<Change>;
  readonly nodes: NodeDirectory;
  /**
   * Across nodes: who downloads each blob, and the credentials nodes show each other when one
   * streams another's download. Undefined in one process, where the coalescer's map decides.
   */
  readonly downloads: SharedDownloads | undefined;
  /** Leaves the cluster and closes its connections. */
  close(): Promise<void>;
}

export class LocalCoordination implements Coordination {
  readonly signingKey = undefined;
  readonly uploadLock = new LocalUploadLock();
  readonly ingests = new LocalIngestGuard();
  readonly eviction = new LocalTurn();
  readonly downloads = undefined;
  readonly nodes: NodeDirectory;

  constructor(self: string) {
    this.nodes = new LocalNodeDirectory(self);
  }

  upstreamState(_repo: string): UpstreamState {
    return new LocalUpstreamState();
  }

  tokenCache(_repo: string): TokenCache {
    return new LocalTokenCache();
  }

  invalidations<Change>(_topic: string, _everything: Change): Invalidations<Change> {
    return new LocalInvalidations<Change>();
  }

  async close(): Promise<void> {}
}
