/**
 * Keeps deletions of a blob's file away from the moments that make it reachable.
 *
 * Ingesting a digest is two steps: its bytes are committed to the store (or found there already,
 * when the staged copy is discarded), then metadata links it. A deletion between the two would
 * leave a link to a missing file. So whatever makes a digest reachable (a download from its start
 * to its link, an upload's last PUT, a mount, an adoption) holds the digest meanwhile, and whatever
 * deletes files (eviction, garbage collection) runs each deletion as a `remove`: the two exclude
 * each other per digest. A removal re-checks metadata inside its turn: by then any ingest that held
 * the digest before it has linked, and any that holds it later waited, then finds the file gone and
 * commits its own bytes.
 *
 * In one process this is a map (`LocalIngestGuard`); across nodes, advisory locks in the shared
 * database (`PostgresIngestGuard`), and the callers do not change.
 */
export interface IngestGuard {
  /**
   * Holds `digest` as being ingested until the lease is released: no removal of it starts
   * meanwhile. Resolves once held, after waiting for a removal already running. Holds of one digest
   * go side by side; nesting is fine.
   */
  hold(digest: string): Promise<IngestLease>;

  /**
   * Runs `work` (the last check and the deletion of `digest`'s file) unless an ingest of it is
   * running, in which case nothing runs and the result is false. Ingests that begin meanwhile wait
   * for it to settle. Removals of one digest run one at a time.
   */
  remove(digest: string, work: () => Promise<void>): Promise<boolean>;

  /** Digests held now, for status and tests. */
  readonly ingesting: number;
}

export interface IngestLease {
  /** Idempotent. */
  release(): void;
}

/** Runs `work` while holding `digest` (see `IngestGuard.hold`). */
export async function ingesting<T>(guard: IngestGuard, digest: string, work: () => Promise<T>): Promise<T> {
  const lease = await guard.hold(digest);
  try {
    return await work();
  } finally {
    lease.release();
  }
}

interface Entry {
  ingests: number;
  /** Settles when the running removal ends. */
  removing: Promise<void> | undefined;
}

export class LocalIngestGuard implements IngestGuard {
  readonly #entries = new Map<string, Entry>();

  get ingesting(): number {
    let count = 0;
    for (const entry of this.#entries.values()) if (entry.ingests > 0) count++;
    return count;
  }

  async hold(digest: string): Promise<IngestLease> {
    for (let entry = this.#entries.get(digest); entry?.removing; entry = this.#entries.get(digest)) {
      await entry.removing;
    }
    const entry = this.#entry(digest);
    entry.ingests++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        entry.ingests--;
        this.#forget(digest, entry);
      },
    };
  }

  async remove(digest: string, work: () => Promise<void>): Promise<boolean> {
    for (let entry = this.#entries.get(digest); entry?.removing; entry = this.#entries.get(digest)) {
      await entry.removing;
    }
    const entry = this.#entry(digest);
    if (entry.ingests > 0) return false;
    let done = () => {};
    entry.removing = new Promise<void>((resolve) => {
      done = resolve;
    });
    try {
      await work();
      return true;
    } finally {
      entry.removing = undefined;
      done();
      this.#forget(digest, entry);
    }
  }

  #entry(digest: string): Entry {
    let entry = this.#entries.get(digest);
    if (!entry) {
      entry = { ingests: 0, removing: undefined };
      this.#entries.set(digest, entry);
    }
    return entry;
  }

  #forget(digest: string, entry: Entry): void {
    if (entry.ingests === 0 && entry.removing === undefined && this.#entries.get(digest) === entry) {
      this.#entries.delete(digest);
    }
  }
}
