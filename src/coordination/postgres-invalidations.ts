import type { Queryable } from "../meta/postgres-pool.js";
import type { Invalidations } from "./invalidation.js";
import type { PostgresSession } from "./postgres-session.js";

/** The channel of a topic: what the database's own triggers notify too (the auth tables: `wharf_auth`). */
export function channelOf(topic: string): string {
  return `wharf_${topic}`;
}

/**
 * Invalidations as PostgreSQL notifications: a change is published as JSON by NOTIFY on the pool
 * and heard through LISTEN on this node's coordination session, by every node, this one included.
 * A notification sent inside a transaction arrives at its commit, so a listener that reads again
 * finds the change. A message that is not a change of this topic (a trigger's table name), and the
 * news that some may have been missed (the session was reconnected), reach listeners as
 * `everything`. Delivery is prompt, not guaranteed: the caches fed by it bound their own age.
 */
export class PostgresInvalidations<Change> implements Invalidations<Change> {
  readonly #db: Queryable;
  readonly #channel: string;
  readonly #everything: Change;
  readonly #onError: (error: unknown) => void;
  readonly #listeners = new Set<(change: Change) => void>();
  /** Settles once this node LISTENs on the topic. */
  readonly listening: Promise<void>;

  constructor(
    db: Queryable,
    session: PostgresSession,
    topic: string,
    everything: Change,
    onError: (error: unknown) => void = () => {},
  ) {
    this.#db = db;
    this.#channel = channelOf(topic);
    this.#everything = everything;
    this.#onError = onError;
    session.onRestore(async () => this.#hear(everything));
    this.listening = session.listen(this.#channel, (payload) => this.#hear(this.#decode(payload)));
    this.listening.catch(onError);
  }

  publish(change: Change): void {
    this.#db
      .query({
        name: "coordination.notify",
        text: "SELECT pg_notify($1, $2)",
        values: [this.#channel, JSON.stringify(change)],
      })
      .catch(this.#onError);
  }

  subscribe(listener: (change: Change) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #decode(payload: string): Change {
    try {
      return JSON.parse(payload) as Change;
    } catch {
      return this.#everything;
    }
  }

  #hear(change: Change): void {
    for (const listener of this.#listeners) listener(change);
  }
}
