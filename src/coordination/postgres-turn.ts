import { LOCK_SPACE, lockKey } from "./postgres-schema.js";
import type { PostgresSession } from "./postgres-session.js";
import type { Turn } from "./turn.js";

/**
 * A turn across the cluster: a session advisory lock (`LOCK_SPACE.turn`, by name) tried, never
 * waited for. Should this node's coordination connection be lost meanwhile, the lock goes with it
 * and another node may start its run while this one ends: each deletion is still checked in the
 * ingest guard's turn, so the worst is evicting more than needed once.
 */
export class PostgresTurn implements Turn {
  readonly #session: PostgresSession;
  readonly #key: number;

  constructor(session: PostgresSession, name: string) {
    this.#session = session;
    this.#key = lockKey(name);
  }

  async ifAlone(work: () => Promise<void>): Promise<boolean> {
    const { rows } = await this.#session.query<{ taken: boolean }>({
      text: "SELECT pg_try_advisory_lock($1, $2) AS taken",
      values: [LOCK_SPACE.turn, this.#key],
    });
    if (!rows[0]?.taken) return false;
    try {
      await work();
      return true;
    } finally {
      await this.#session
        .query({ text: "SELECT pg_advisory_unlock($1, $2)", values: [LOCK_SPACE.turn, this.#key] })
        .catch(() => {});
    }
  }
}
