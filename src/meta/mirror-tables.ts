import type Database from "better-sqlite3";
import type pg from "pg";

/** One column as the SQLite table names it and as the PostgreSQL one does. */
export interface MirroredColumn {
  readonly sqlite: string;
  readonly postgres: string;
  /** SQLite keeps booleans as 0 and 1. */
  readonly boolean?: true;
}

/** A table that exists in both backends (the PostgreSQL schema is SQLite's, a few names apart). */
export interface MirroredTable {
  readonly table: string;
  readonly columns: readonly MirroredColumn[];
  /** The primary key, in PostgreSQL's names. */
  readonly key: readonly string[];
  /** PostgreSQL generates this key column (an identity): copied as it is, then its sequence moves past it. */
  readonly identity?: string;
}

export interface TableMirrored {
  readonly table: string;
  /** Rows in SQLite, and in PostgreSQL once mirrored. */
  readonly source: number;
  readonly target: number;
  /** Rows the run inserted or changed, and rows it removed for being gone from SQLite. */
  readonly written: number;
  readonly removed: number;
}

const BATCH_ROWS = 500;

const same = (name: string): MirroredColumn => ({ sqlite: name, postgres: name });
/** Columns named alike in both. */
export const columns = (...names: string[]): MirroredColumn[] => names.map(same);

/**
 * Makes the PostgreSQL table hold exactly the SQLite table's rows: every row upserted (a row that is
 * already there unchanged is not written again, so a second run writes nothing), then every row the
 * SQLite table no longer has removed. Reads SQLite in one statement's snapshot (its WAL lets a
 * running server go on writing meanwhile); what that server writes afterwards, the next run copies.
 */
export async function mirrorTable(
  sqlite: Database.Database,
  pool: pg.Pool,
  spec: MirroredTable,
): Promise<TableMirrored> {
  const targetColumns = spec.columns.map((column) => column.postgres);
  const keyPositions = spec.key.map((name) => targetColumns.indexOf(name));
  if (keyPositions.some((position) => position < 0))
    throw new Error(`${spec.table}: key not among its columns`);
  const updated = targetColumns.filter((name) => !spec.key.includes(name));
  const conflict =
    updated.length === 0
      ? "DO NOTHING"
      : `DO UPDATE SET ${updated.map((name) => `${name} = excluded.${name}`).join(", ")}
         WHERE (${updated.map((name) => `${spec.table}.${name}`).join(", ")})
           IS DISTINCT FROM (${updated.map((name) => `excluded.${name}`).join(", ")})`;
  const insert = (rows: unknown[][]) => {
    const values = rows.map(
      (_, r) => `(${targetColumns.map((_, c) => `$${r * targetColumns.length + c + 1}`).join(", ")})`,
    );
    return pool.query({
      text: `INSERT INTO ${spec.table} (${targetColumns.join(", ")})
             ${spec.identity ? "OVERRIDING SYSTEM VALUE" : ""}
             VALUES ${values.join(", ")} ON CONFLICT (${spec.key.join(", ")}) ${conflict}`,
      values: rows.flat(),
    });
  };
  const keyOf = (row: readonly unknown[]) => JSON.stringify(keyPositions.map((position) => row[position]));

  const present = new Set<string>();
  let source = 0;
  let written = 0;
  let batch: unknown[][] = [];
  const statement = sqlite
    .prepare(`SELECT ${spec.columns.map((column) => `"${column.sqlite}"`).join(", ")} FROM ${spec.table}`)
    .raw(true);
  for (const found of statement.iterate() as Iterable<unknown[]>) {
    const row = found.map((value, i) => (spec.columns[i]?.boolean ? value === 1 : value));
    present.add(keyOf(row));
    source++;
    batch.push(row);
    if (batch.length === BATCH_ROWS) {
      written += (await insert(batch)).rowCount ?? 0;
      batch = [];
    }
  }
  if (batch.length > 0) written += (await insert(batch)).rowCount ?? 0;

  const { rows: keys } = await pool.query<unknown[]>({
    text: `SELECT ${spec.key.join(", ")} FROM ${spec.table}`,
    rowMode: "array",
  });
  const gone = keys.filter((key) => !present.has(JSON.stringify(key)));
  let removed = 0;
  for (let i = 0; i < gone.length; i += BATCH_ROWS) {
    const slice = gone.slice(i, i + BATCH_ROWS);
    const tuples = slice.map(
      (_, r) => `(${spec.key.map((_, c) => `$${r * spec.key.length + c + 1}`).join(", ")})`,
    );
    const result = await pool.query({
      text: `DELETE FROM ${spec.table} WHERE (${spec.key.join(", ")}) IN (${tuples.join(", ")})`,
      values: slice.flat(),
    });
    removed += result.rowCount ?? 0;
  }
  if (spec.identity) {
    await pool.query(
      `SELECT setval(pg_get_serial_sequence('${spec.table}', '${spec.identity}'),
                     GREATEST((SELECT max(${spec.identity}) FROM ${spec.table}), 1))`,
    );
  }
  const { rows } = await pool.query<{ count: number }>(`SELECT count(*)::int AS count FROM ${spec.table}`);
  return { table: spec.table, source, target: rows[0]?.count ?? 0, written, removed };
}
