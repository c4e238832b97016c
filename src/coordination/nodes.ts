/** A wharf node of the cluster, as the others find it. */
export interface ClusterNode {
  readonly id: string;
  /** Where the other nodes reach its internal endpoints. */
  readonly url: string;
  readonly startedAt: number;
  readonly heartbeatAt: number;
}

/**
 * Who is up. A node joins once it listens, beats while it runs and leaves when it stops; a node
 * whose heartbeat is older than the expiry counts as gone, so one that died drops out by itself.
 * Nodes come and go without the others restarting: they ask this directory, not a list of peers.
 */
export interface NodeDirectory {
  /** This node's id (random per start unless configured). */
  readonly self: string;
  join(url: string): Promise<void>;
  /** The nodes whose heartbeat is recent, this one included once it joined; by id. */
  live(): Promise<ClusterNode[]>;
  /** Stops beating and removes this node at once. Idempotent. */
  leave(): Promise<void>;
}

/** One process: it is the cluster. */
export class LocalNodeDirectory implements NodeDirectory {
  readonly self: string;
  #node: ClusterNode | undefined;

  constructor(self: string) {
    this.self = self;
  }

  async join(url: string): Promise<void> {
    const now = Date.now();
    this.#node = { id: this.self, url, startedAt: now, heartbeatAt: now };
  }

  async live(): Promise<ClusterNode[]> {
    return this.#node ? [this.#node] : [];
  }

  async leave(): Promise<void> {
    this.#node = undefined;
  }
}
