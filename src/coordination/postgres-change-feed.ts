import type { Queryable } from "../meta/postgres-pool.js";
import type { ChangeFeed } from "./change-feed.js";
import type { PostgresSession } from "./postgres-session.js";

/** The channel of a topic: what the database's own triggers notify too (the auth tables: `wharf_auth`). */
export function channelOf(topic: string): string {
  return `wharf_${topic}`;
}

/**
 * Announcements as PostgreSQL notifications (NOTIFY on the pool, LISTEN on this node's
 * coordination session). A notification sent inside a transaction arrives at its commit, so a
 * listener that reads again finds the change. While the session is reconnecting nothing arrives;
 * once it is back every listener hears `undefined`, since something may have been missed.
 */
export class PostgresChangeFeed implements ChangeFeed {
  readonly #db: Queryable;
  readonly #session: PostgresSession;
  readonly #listeners = new Set<(detail: string | undefined) => void>();

  constructor(db: Queryable, session: PostgresSession) {
    this.#db = db;
    this.#session = session;
    session.onRestore(async () => {
      for (const listener of this.#listeners) listener(undefined);
    });
  }

  async subscribe(topic: string, listener: (detail: string | undefined) => void): Promise<void> {
    this.#listeners.add(listener);
    await this.#session.listen(channelOf(topic), (payload) => listener(payload));
  }

  async announce(topic: string, detail = ""): Promise<void> {
    await this.#db.query({
      name: "coordination.announce",
      text: "SELECT pg_notify($1, $2)",
      values: [channelOf(topic), detail],
    });
  }
}
