/** What InFlight needs to know of a download: once `done` settles, its key is free again. */
export interface Download {
  readonly done: Promise<unknown>;
}

/**
 * Who downloads which blob right now, and how the others get its bytes while it runs
 * (invariant 3: one upstream fetch per blob, however many clients ask at once).
 *
 * Within one process that is a map of running downloads (`LocalInFlight`). Across nodes, the
 * downloads it holds are themselves chosen by lease (`BlobLeases`, through the coalescer's
 * `ClusterRelay`): a node's download either comes from upstream or streams from the node that holds
 * the lease, and this map coalesces the node's own callers onto it either way.
 */
export interface InFlight<D extends Download> {
  /**
   * Offers `use` the download of `key` that is in flight, or one started with `start` when none is
   * (`started` says which). `use` returns what its caller gets from the download, or undefined when
   * that download cannot serve it (it is ending, or its first bytes are gone): then a new download is
   * started, once for all the callers that found that one unusable together. Callers arriving while
   * `start` is still opening, even in the same tick, join it; when `start` rejects (an upstream refusal
   * before the first byte), every one of them gets that rejection. `use` must accept a download it
   * started.
   */
  join<R>(
    key: string,
    start: () => Promise<D>,
    use: (download: D, started: boolean) => R | undefined | Promise<R | undefined>,
  ): Promise<R>;

  /**
   * The download of `key` this node runs, once it has started (its opening resolved); undefined
   * while none does, or while it is still opening. For callers deciding whether to wait for it.
   */
  current(key: string): D | undefined;

  /** Downloads in flight that this node runs. */
  readonly size: number;
}

/**
 * In-flight downloads of this process. Not a SingleFlight (`util/single-flight.ts`): a key stays
 * taken after its download was handed out, until the download ends, and a caller that cannot use the
 * running download replaces it while it still runs.
 */
export class LocalInFlight<D extends Download> implements InFlight<D> {
  /** Set before any await, so that callers in the same tick find the download being opened. */
  readonly #running = new Map<string, Promise<D>>();
  /** The running downloads whose opening resolved, for `current`. */
  readonly #opened = new Map<string, D>();

  get size(): number {
    return this.#running.size;
  }

  current(key: string): D | undefined {
    return this.#opened.get(key);
  }

  async join<R>(
    key: string,
    start: () => Promise<D>,
    use: (download: D, started: boolean) => R | undefined | Promise<R | undefined>,
  ): Promise<R> {
    for (let running = this.#running.get(key); running; ) {
      const result = await use(await running, false);
      if (result !== undefined) return result;
      // Several callers may find this download unusable together: the first starts a new one, the rest join it.
      const current = this.#running.get(key);
      running = current === running ? undefined : current;
    }
    const starting = start();
    this.#running.set(key, starting);
    let opened: D | undefined;
    const forget = () => {
      if (this.#running.get(key) === starting) this.#running.delete(key);
      if (opened !== undefined && this.#opened.get(key) === opened) this.#opened.delete(key);
    };
    starting.then((download) => {
      if (this.#running.get(key) === starting) {
        opened = download;
        this.#opened.set(key, download);
      }
      return download.done.then(forget, forget);
    }, forget);
    const result = await use(await starting, true);
    if (result === undefined) throw new Error(`the download of ${key} it started was refused by its caller`);
    return result;
  }
}
