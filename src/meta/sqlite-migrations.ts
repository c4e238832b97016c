import Database from "better-sqlite3";

/**
 * Opens one of wharf's SQLite databases (content metadata, users and tokens) the way they all
 * open: WAL, so readers never wait for the writer and a CLI command can work beside the server;
 * a busy timeout for the moments the other process holds the write lock; then the schema
 * brought up to date by `migrations`.
 *
 * Migrations are SQL scripts numbered by `PRAGMA user_version`: script i takes a database from
 * version i to i + 1 inside its own transaction, so a failing script leaves the database at the
 * version before it and the next start tries again. Scripts are only ever appended, never edited
 * or reordered: a database written by an earlier wharf opens unchanged and gets only the new ones.
 * `path` is a file, or `:memory:` for tests.
 */
export function openSqlite(path: string, migrations: readonly string[]): Database.Database {
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("busy_timeout = 5000");
    migrate(db, migrations);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Runs the scripts `db` has not run yet, each with the version it reaches, in one transaction. */
function migrate(db: Database.Database, migrations: readonly string[]): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  for (let next = version; next < migrations.length; next++) {
    db.transaction(() => {
      db.exec(migrations[next] as string);
      db.pragma(`user_version = ${next + 1}`);
    })();
  }
}
