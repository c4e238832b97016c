import pg from "pg";

/** BIGINT (int8): wharf's sizes and times (ms since epoch) stay far below 2^53. */
const INT8_OID = 20;

export interface PostgresOptions {
  /** postgres://user:password@host:port/database, with libpq's parameters (sslmode, options…). */
  readonly url: string;
  /** Connections this pool keeps at most. */
  readonly maxConnections: number;
  /** Where a connection that failed while idle (a server restart) is reported; the pool replaces it. */
  readonly onIdleError?: (error: Error) => void;
}

/** What runs a statement: the pool (any connection) or one client checked out for a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>>;
}

/**
 * A pool of node-postgres connections for one store. Statements are given names, so each connection
 * parses and plans a request-path query once; BIGINT comes back as a number, not a string.
 */
export function openPool(options: PostgresOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: "wharf",
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // Without a listener an idle connection's failure would end the process.
  pool.on("error", (error) => options.onIdleError?.(error));
  return pool;
}

/** Runs `work` in a transaction on one connection of `pool`; ROLLBACK when it throws. */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    try {
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch((rollbackFailed: unknown) => {
        // A connection that cannot even roll back is not handed to anyone else.
        broken = rollbackFailed instanceof Error ? rollbackFailed : new Error(String(rollbackFailed));
      });
      throw error;
    }
  } finally {
    client.release(broken);
  }
}

/** Connects once, without touching any table, and answers the server's version: `wharf config check --connect`. */
export async function probePostgres(url: string): Promise<string> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 10_000,
    application_name: "wharf",
  });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>("SHOW server_version");
    return rows[0]?.server_version ?? "unknown";
  } finally {
    await client.end();
  }
}
