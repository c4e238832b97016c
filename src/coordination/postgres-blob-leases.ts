import { randomUUID } from "node:crypto";
import type { Queryable } from "../meta/postgres-pool.js";
import { type Clock, systemClock } from "../util/clock.js";
import type { BlobLeases, DownloadLease, LeaseAnswer } from "./blob-leases.js";
import { heldLease, type LeaseTable } from "./postgres-lease.js";

const BLOB_LEASES: LeaseTable = { table: "blob_leases", keyColumn: "key" };

/** A lease lasts this long unless renewed (a third of the way through): a dead node's is free after it. */
const DEFAULT_LEASE_MS = 10_000;

interface HolderRow {
  holder: string;
  node: string;
  internal_url: string | null;
  started_at: number | null;
  heartbeat_at: number | null;
}

/**
 * Download leases in `blob_leases`, a row per download key: taking one is one statement (an insert,
 * or an update of a row whose lease ran out); releasing deletes the row only if it is still this
 * lease's, so a late release never frees a lease that passed on.
 */
export class PostgresBlobLeases implements BlobLeases {
  readonly #db: Queryable;
  readonly #self: string;
  readonly #clock: Clock;
  readonly #leaseMs: number;

  constructor(db: Queryable, self: string, options: { clock?: Clock; leaseMs?: number } = {}) {
    this.#db = db;
    this.#self = self;
    this.#clock = options.clock ?? systemClock;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  }

  async take(key: string): Promise<LeaseAnswer> {
    const holder = randomUUID();
    const now = this.#clock.now();
    const { rowCount } = await this.#db.query({
      name: "coordination.takeBlobLease",
      text: `INSERT INTO blob_leases (key, node, holder, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO UPDATE SET node = excluded.node, holder = excluded.holder,
               expires_at = excluded.expires_at
             WHERE blob_leases.expires_at <= $5`,
      values: [key, this.#self, holder, now + this.#leaseMs, now],
    });
    if (rowCount === 1) return { taken: this.#held(key, holder) };
    const { rows } = await this.#db.query<HolderRow>({
      name: "coordination.blobLeaseHolder",
      text: `SELECT l.holder, l.node, n.internal_url, n.started_at, n.heartbeat_at
             FROM blob_leases l LEFT JOIN cluster_nodes n ON n.id = l.node WHERE l.key = $1`,
      values: [key],
    });
    const row = rows[0];
    // Released between the two statements: free again.
    if (!row) return this.take(key);
    return {
      holder: row.holder,
      node:
        row.internal_url === null
          ? undefined
          : {
              id: row.node,
              url: row.internal_url,
              startedAt: row.started_at ?? 0,
              heartbeatAt: row.heartbeat_at ?? 0,
            },
    };
  }

  async takeOver(key: string, previous: string): Promise<DownloadLease | undefined> {
    const holder = randomUUID();
    const { rowCount } = await this.#db.query({
      name: "coordination.takeOverBlobLease",
      text: "UPDATE blob_leases SET node = $3, holder = $4, expires_at = $5 WHERE key = $1 AND holder = $2",
      values: [key, previous, this.#self, holder, this.#clock.now() + this.#leaseMs],
    });
    return rowCount === 1 ? this.#held(key, holder) : undefined;
  }

  #held(key: string, holder: string): DownloadLease {
    return heldLease(this.#db, BLOB_LEASES, key, holder, { leaseMs: this.#leaseMs, clock: this.#clock });
  }
}
