/**
 * How caches hear that what they copied changed elsewhere: another node of a cluster, or
 * anything else that writes the same stores. A cache publishes each change it makes and drops
 * what a published change names. In one process the cache that made a change has already
 * dropped it, so `LocalInvalidations` only hands messages to the subscribers of this process;
 * across nodes it becomes the database's notifications (PostgreSQL LISTEN/NOTIFY), with the
 * callers unchanged.
 *
 * Delivery is at most once and may lag, so every cache fed by it also bounds how stale it may
 * get on its own (a time to live, or the database's own change counter).
 */
export interface Invalidations<Change> {
  publish(change: Change): void;
  /** `listener` hears every change published from now on; the function returned unsubscribes. */
  subscribe(listener: (change: Change) => void): () => void;
}

/** This process's invalidations: published changes reach this process's subscribers at once. */
export class LocalInvalidations<Change> implements Invalidations<Change> {
  readonly #listeners = new Set<(change: Change) => void>();

  publish(change: Change): void {
    for (const listener of this.#listeners) listener(change);
  }

  subscribe(listener: (change: Change) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
