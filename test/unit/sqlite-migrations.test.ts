// The one migration runner of both SQLite databases: scripts run once each, in order, each in its
// own transaction, numbered by user_version exactly as before the runner was shared.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { SqliteAuthStore } from "../../src/auth/auth-store.js";
import { SqliteMetadataStore } from "../../src/meta/sqlite-metadata-store.js";
import { openSqlite } from "../../src/meta/sqlite-migrations.js";
import { sqliteUserVersion } from "./helpers.js";

const directory = mkdtempSync(join(tmpdir(), "wharf-unit-migrations-"));
after(() => rmSync(directory, { recursive: true, force: true }));
let files = 0;
const freshFile = () => join(directory, `db-${++files}.db`);

// Plain CREATE TABLE fails when run twice, so a script run again shows as an error.
const FIRST = "CREATE TABLE one (id INTEGER PRIMARY KEY);";
const SECOND = "CREATE TABLE two (id INTEGER PRIMARY KEY); INSERT INTO one (id) VALUES (1);";

const tables = (path: string): string[] => {
  const db = openSqlite(path, []);
  try {
    return db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((row) => row.name);
  } finally {
    db.close();
  }
};

describe("openSqlite", () => {
  test("a new database runs every script and ends at their count, in WAL with a busy timeout", () => {
    const path = freshFile();
    const db = openSqlite(path, [FIRST, SECOND]);
    try {
      assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
      assert.equal(db.pragma("busy_timeout", { simple: true }), 5000);
      assert.deepEqual(db.prepare("SELECT id FROM one").all(), [{ id: 1 }], "the second ran after the first");
    } finally {
      db.close();
    }
    assert.equal(sqliteUserVersion(path), 2);
    assert.deepEqual(tables(path), ["one", "two"]);
  });

  test("an older database gets only the scripts it lacks; a current one none", () => {
    const path = freshFile();
    openSqlite(path, [FIRST]).close();
    assert.equal(sqliteUserVersion(path), 1);
    openSqlite(path, [FIRST, SECOND]).close();
    assert.equal(sqliteUserVersion(path), 2);
    openSqlite(path, [FIRST, SECOND]).close();
    assert.equal(sqliteUserVersion(path), 2);
    assert.deepEqual(tables(path), ["one", "two"]);
  });

  test("a failing script changes nothing of its own, keeps the version before it, and is retried next time", () => {
    const path = freshFile();
    const broken = "CREATE TABLE two (id INTEGER PRIMARY KEY); INSERT INTO missing VALUES (1);";
    assert.throws(() => openSqlite(path, [FIRST, broken]), /missing/);
    assert.equal(sqliteUserVersion(path), 1);
    assert.deepEqual(tables(path), ["one"]);
    openSqlite(path, [FIRST, SECOND]).close();
    assert.equal(sqliteUserVersion(path), 2);
  });

  test("both stores number their migrations: metadata at 5 (usage the third, the operator's records the fourth, content sizes the fifth), auth at 2 (sessions)", async () => {
    const meta = freshFile();
    await new SqliteMetadataStore(meta).close();
    assert.equal(sqliteUserVersion(meta), 5);
    const auth = freshFile();
    await new SqliteAuthStore(auth).close();
    assert.equal(sqliteUserVersion(auth), 2);
  });
});
