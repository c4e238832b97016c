import pg from "pg";

export interface PostgresSessionOptions {
  /** The cluster's database. */
  readonly url: string;
  /** Where a lost connection is reported; the session connects again by itself. */
  readonly onLost?: (error: Error) => void;
  /** The pause before connecting again after a loss. */
  readonly retryMs?: number;
}

/**
 * What state a session holds that a new connection must be given again: advisory locks, LISTENs.
 * Called on every new connection but the first, before any other statement runs on it.
 */
export type Restore = (session: PostgresSession) => Promise<void>;

/**
 * One long-lived connection of this node, for what lives in a PostgreSQL session rather than in a
 * table: advisory locks (the server drops them when the connection ends, so a node that dies lets
 * go of them at once) and LISTEN. Statements run one after another on it. When the connection is
 * lost it is opened again, after a pause, and each owner's `Restore` gives the new one what the old
 * one held, before statements resume; in between, statements wait for it.
 */
export class PostgresSession {
  readonly #options: PostgresSessionOptions;
  readonly #restores: Restore[] = [];
  readonly #listeners = new Map<string, Set<(payload: string) => void>>();
  #client: Promise<pg.Client> | undefined;
  #connections = 0;
  #closed = false;

  constructor(options: PostgresSessionOptions) {
    this.#options = options;
  }

  /** Connects (the first connection); rejects when the database cannot be reached. */
  async open(): Promise<void> {
    await this.#connected();
  }

  /** Registers what a new connection must be given again. */
  onRestore(restore: Restore): void {
    this.#restores.push(restore);
  }

  async query<R extends pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>> {
    const client = await this.#connected();
    return client.query<R>(config);
  }

  /**
   * LISTENs on `channel` and hands each notification's payload to `listener`. A new connection
   * LISTENs again; what was sent while none was open is lost, which owners hear of through `onRestore`.
   */
  async listen(channel: string, listener: (payload: string) => void): Promise<void> {
    let listeners = this.#listeners.get(channel);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(channel, listeners);
      await this.query({ text: `LISTEN ${pg.escapeIdentifier(channel)}` });
    }
    listeners.add(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = await this.#client?.catch(() => undefined);
    await client?.end().catch(() => {});
  }

  #connected(): Promise<pg.Client> {
    if (this.#closed) return Promise.reject(new Error("the coordination session is closed"));
    this.#client ??= this.#connect();
    return this.#client;
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#options.url,
      connectionTimeoutMillis: 10_000,
      application_name: "wharf coordination",
      // A peer that vanished without a FIN (a dead machine) is noticed in about a minute, not hours.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    let gone = false;
    const lost = (error: Error) => {
      // An error and the end that follows it are one loss; a replaced connection's end is none.
      if (this.#closed || gone) return;
      gone = true;
      this.#options.onLost?.(error);
      this.#client = undefined;
      client.end().catch(() => {});
      // Nobody may be waiting to query (a LISTEN only hears): connect again after a pause anyway.
      setTimeout(() => {
        if (!this.#closed && this.#client === undefined) this.#connected().catch(() => {});
      }, this.#options.retryMs ?? 1000).unref();
    };
    client.on("error", lost);
    client.on("end", () => lost(new Error("the coordination connection ended")));
    client.on("notification", (message) => {
      for (const listener of this.#listeners.get(message.channel) ?? []) listener(message.payload ?? "");
    });
    try {
      await client.connect();
      if (this.#connections++ > 0) {
        for (const channel of this.#listeners.keys())
          await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        // Owners may query through the session: this connection is the one they get.
        this.#client = Promise.resolve(client);
        for (const restore of this.#restores) await restore(this);
      }
      return client;
    } catch (error) {
      gone = true;
      this.#client = undefined;
      client.end().catch(() => {});
      throw error;
    }
  }
}
