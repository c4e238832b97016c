import type { Queryable } from "../meta/postgres-pool.js";
import type { Clock } from "../util/clock.js";

/** Where a kind of lease lives: its table and the column naming what is leased (constants, never input). */
export interface LeaseTable {
  readonly table: "blob_leases" | "upload_locks";
  readonly keyColumn: "key" | "id";
}

/**
 * A lease row held by `holder`, renewed a third of the way through its life until released.
 * Releasing deletes the row only while it is still this holder's, so a late release never frees
 * a lease that passed on; a renewal that fails is retried at the next tick, and if none gets
 * through the lease runs out by itself, which is what lets another node take over.
 */
export function heldLease(
  db: Queryable,
  where: LeaseTable,
  key: string,
  holder: string,
  timing: { readonly leaseMs: number; readonly clock: Clock },
): { release(): Promise<void> } {
  const { table, keyColumn } = where;
  const renewal = setInterval(() => {
    db.query({
      name: `coordination.renew.${table}`,
      text: `UPDATE ${table} SET expires_at = $3 WHERE ${keyColumn} = $1 AND holder = $2`,
      values: [key, holder, timing.clock.now() + timing.leaseMs],
    }).catch(() => {});
  }, timing.leaseMs / 3);
  renewal.unref();
  let released: Promise<void> | undefined;
  return {
    release: () => {
      released ??= (async () => {
        clearInterval(renewal);
        await db
          .query({
            name: `coordination.release.${table}`,
            text: `DELETE FROM ${table} WHERE ${keyColumn} = $1 AND holder = $2`,
            values: [key, holder],
          })
          .catch(() => {});
      })();
      return released;
    },
  };
}
