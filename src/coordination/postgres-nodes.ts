import type { Queryable } from "../meta/postgres-pool.js";
import { type Clock, systemClock } from "../util/clock.js";
import type { ClusterNode, NodeDirectory } from "./nodes.js";

export interface PostgresNodesOptions {
  readonly clock?: Clock;
  /** How often a node beats (5 s). */
  readonly heartbeatMs?: number;
  /** A node whose last beat is older counts as gone (three beats). */
  readonly expiryMs?: number;
  /** Where a beat that did not reach the database is reported; the next one tries again. */
  readonly onBeatFailed?: (error: unknown) => void;
}

/** A node silent this long is removed from the table by the next node that joins. */
const FORGET_AFTER_MS = 86_400_000;

interface NodeRow {
  id: string;
  internal_url: string;
  started_at: number;
  heartbeat_at: number;
}

/** The nodes table (`cluster_nodes`): a row per node, its heartbeat renewed by an upsert. */
export class PostgresNodeDirectory implements NodeDirectory {
  readonly self: string;
  readonly #db: Queryable;
  readonly #clock: Clock;
  readonly #heartbeatMs: number;
  readonly #expiryMs: number;
  readonly #options: PostgresNodesOptions;
  #beat: NodeJS.Timeout | undefined;
  #startedAt = 0;

  constructor(db: Queryable, self: string, options: PostgresNodesOptions = {}) {
    this.self = self;
    this.#db = db;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#heartbeatMs = options.heartbeatMs ?? 5000;
    this.#expiryMs = options.expiryMs ?? 3 * this.#heartbeatMs;
  }

  async join(url: string): Promise<void> {
    this.#startedAt = this.#clock.now();
    const beat = () =>
      this.#db.query({
        name: "coordination.nodeBeat",
        text: `INSERT INTO cluster_nodes (id, internal_url, started_at, heartbeat_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (id) DO UPDATE SET internal_url = excluded.internal_url,
                 heartbeat_at = excluded.heartbeat_at`,
        values: [this.self, url, this.#startedAt, this.#clock.now()],
      });
    await beat();
    // Rows of nodes long gone (killed, never stopped) are only noise in the table.
    await this.#db.query({
      name: "coordination.nodesForgotten",
      text: "DELETE FROM cluster_nodes WHERE heartbeat_at < $1",
      values: [this.#clock.now() - FORGET_AFTER_MS],
    });
    clearInterval(this.#beat);
    this.#beat = setInterval(() => {
      beat().catch((error: unknown) => this.#options.onBeatFailed?.(error));
    }, this.#heartbeatMs);
    this.#beat.unref();
  }

  async live(): Promise<ClusterNode[]> {
    const { rows } = await this.#db.query<NodeRow>({
      name: "coordination.liveNodes",
      text: `SELECT id, internal_url, started_at, heartbeat_at FROM cluster_nodes
             WHERE heartbeat_at > $1 ORDER BY id`,
      values: [this.#clock.now() - this.#expiryMs],
    });
    return rows.map((row) => ({
      id: row.id,
      url: row.internal_url,
      startedAt: row.started_at,
      heartbeatAt: row.heartbeat_at,
    }));
  }

  async leave(): Promise<void> {
    if (this.#beat === undefined) return;
    clearInterval(this.#beat);
    this.#beat = undefined;
    await this.#db.query({
      name: "coordination.nodeLeave",
      text: "DELETE FROM cluster_nodes WHERE id = $1",
      values: [this.self],
    });
  }
}
