import { randomUUID } from "node:crypto";
import type { Queryable } from "../meta/postgres-pool.js";
import { type Clock, systemClock } from "../util/clock.js";
import { heldLease, type LeaseTable } from "./postgres-lease.js";
import type { UploadLease, UploadLock } from "./upload-lock.js";

const UPLOAD_LOCKS: LeaseTable = { table: "upload_locks", keyColumn: "id" };

/** A lease lasts this long unless renewed; its holder renews it a third of the way through. */
const DEFAULT_LEASE_MS = 30_000;

export interface PostgresUploadLockOptions {
  readonly clock?: Clock;
  readonly leaseMs?: number;
}

/**
 * One writer per upload session across the cluster: a row in `upload_locks` naming the lease and
 * when it expires. Taking it is one statement (insert, or take over a row whose lease ran out);
 * the holder renews it while its request writes, so a long chunk keeps it, and a node that dies
 * stops renewing: its lease runs out and the client's retry, on any node, takes the session over.
 */
export class PostgresUploadLock implements UploadLock {
  readonly #db: Queryable;
  readonly #clock: Clock;
  readonly #leaseMs: number;

  constructor(db: Queryable, options: PostgresUploadLockOptions = {}) {
    this.#db = db;
    this.#clock = options.clock ?? systemClock;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  }

  async tryLock(id: string): Promise<UploadLease | undefined> {
    const holder = randomUUID();
    const now = this.#clock.now();
    const { rowCount } = await this.#db.query({
      name: "coordination.takeUploadLock",
      text: `INSERT INTO upload_locks (id, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE upload_locks.expires_at <= $4`,
      values: [id, holder, now + this.#leaseMs, now],
    });
    if (rowCount !== 1) return undefined;
    return heldLease(this.#db, UPLOAD_LOCKS, id, holder, { leaseMs: this.#leaseMs, clock: this.#clock });
  }
}
