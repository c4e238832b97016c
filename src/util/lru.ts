/**
 * A map that keeps its most recently used entries within a bound: a number of entries, and a
 * total weight when entries weigh differently (bytes of documents). Reading an entry makes it
 * the most recent; the least recent go first when the bound is passed.
 */
export class Lru<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #maxEntries: number;
  readonly #maxWeight: number;
  readonly #weigh: (value: V) => number;
  #weight = 0;
  /** The key set or read last: the last in the map's order, unless it was deleted since. */
  #newest: K | undefined;

  constructor(options: { maxEntries: number; maxWeight?: number; weigh?: (value: V) => number }) {
    this.#maxEntries = options.maxEntries;
    this.#maxWeight = options.maxWeight ?? Number.POSITIVE_INFINITY;
    this.#weigh = options.weigh ?? (() => 0);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Whether `key` is held (a held value may itself be undefined). */
  has(key: K): boolean {
    return this.#entries.has(key);
  }

  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined && !this.#entries.has(key)) return undefined;
    // Re-inserted: a Map iterates in insertion order, so the first key is the least recent. The
    // newest needs no move, and a hot key is mostly the newest: four map operations were a
    // twentieth of a warm manifest GET, which reads several of these caches.
    if (key !== this.#newest) {
      this.#entries.delete(key);
      this.#entries.set(key, value as V);
      this.#newest = key;
    }
    return value;
  }

  set(key: K, value: V): void {
    const weight = this.#weigh(value);
    // Heavier than the whole bound: keeping it would only push everything else out.
    if (weight > this.#maxWeight) return;
    this.delete(key);
    this.#entries.set(key, value);
    this.#newest = key;
    this.#weight += weight;
    for (const [oldest, old] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && this.#weight <= this.#maxWeight) break;
      this.#entries.delete(oldest);
      this.#weight -= this.#weigh(old);
    }
  }

  delete(key: K): void {
    if (!this.#entries.has(key)) return;
    this.#weight -= this.#weigh(this.#entries.get(key) as V);
    this.#entries.delete(key);
  }

  /** Removes every entry whose key `which` selects. */
  deleteWhere(which: (key: K) => boolean): void {
    for (const key of [...this.#entries.keys()]) if (which(key)) this.delete(key);
  }

  clear(): void {
    this.#entries.clear();
    this.#weight = 0;
  }
}
