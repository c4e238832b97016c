import type pg from "pg";
import { inTransaction } from "./postgres-pool.js";

/** Every migration of every component takes this lock: one node migrates, the others wait, then see it done. */
const MIGRATION_LOCK = 0x77686172; // "whar"

/**
 * Brings one component's tables (content metadata, auth) up to date, the PostgreSQL way the SQLite
 * databases are (`sqlite-migrations.ts`): scripts numbered from 0, only ever appended, each run once
 * in its own transaction with the version it reaches, recorded per component in `wharf_schema`.
 *
 * Several nodes may start at once: each script's transaction first takes a transaction-scoped
 * advisory lock (released by its COMMIT, so it also holds through a transaction-pooling proxy such as
 * PgBouncer, where a session lock would not), then reads the version, so a script runs exactly once
 * and a node that waited finds it applied. A database newer than this wharf (a node not upgraded yet,
 * in a rolling upgrade) opens unchanged: scripts only add.
 */
export async function migratePostgres(
  pool: pg.Pool,
  component: string,
  scripts: readonly string[],
): Promise<void> {
  for (let done = false; !done; ) {
    done = await inTransaction(pool, async (client) => {
      await client.query({ text: "SELECT pg_advisory_xact_lock($1)", values: [MIGRATION_LOCK] });
      await client.query(
        "CREATE TABLE IF NOT EXISTS wharf_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
      );
      const found = await client.query<{ version: number }>({
        text: "SELECT version FROM wharf_schema WHERE component = $1",
        values: [component],
      });
      const version = found.rows[0]?.version ?? 0;
      const script = scripts[version];
      if (script === undefined) return true;
      await client.query(script);
      await client.query({
        text: `INSERT INTO wharf_schema (component, version) VALUES ($1, $2)
               ON CONFLICT (component) DO UPDATE SET version = excluded.version`,
        values: [component, version + 1],
      });
      return false;
    });
  }
}
