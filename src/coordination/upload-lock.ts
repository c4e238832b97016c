/** A held upload lock. */
export interface UploadLease {
  /** Idempotent. */
  release(): Promise<void>;
}

/**
 * One writer per upload session: a second request writing the same session at once is refused,
 * never interleaved with the first. Across nodes it is a lease in the shared database that expires
 * when its node dies (`PostgresUploadLock`); in one process it is a set (`LocalUploadLock`).
 */
export interface UploadLock {
  /** Takes the lock of session `id` when nobody holds it; undefined when someone does. Never waits. */
  tryLock(id: string): Promise<UploadLease | undefined>;
}

export class LocalUploadLock implements UploadLock {
  readonly #held = new Set<string>();

  async tryLock(id: string): Promise<UploadLease | undefined> {
    if (this.#held.has(id)) return undefined;
    this.#held.add(id);
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        this.#held.delete(id);
      },
    };
  }
}
