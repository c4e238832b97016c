// SqliteAuthStore: users, API tokens and settings, in memory and on disk, and migrations that
// can run on every start.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { SqliteAuthStore } from "../../src/auth/auth-store.js";
import { ALICE, apiToken, authStoreConformance } from "./auth-store.suite.js";
import { sqliteUserVersion } from "./helpers.js";

const directory = mkdtempSync(join(tmpdir(), "wharf-unit-authdb-"));
after(() => rmSync(directory, { recursive: true, force: true }));
let files = 0;
const freshFile = () => join(directory, `auth-${++files}.db`);

authStoreConformance("SqliteAuthStore(:memory:)", () => new SqliteAuthStore(":memory:"));
authStoreConformance("SqliteAuthStore(file)", () => new SqliteAuthStore(freshFile()));

describe("SqliteAuthStore on disk", () => {
  test("data survives reopening, and reopening runs no migration twice", async () => {
    const path = freshFile();
    const first = new SqliteAuthStore(path);
    await first.putUser(ALICE);
    await first.createToken(apiToken("00000000000000c1"));
    await first.setSetting("rules", "x");
    await first.close();
    const version = sqliteUserVersion(path);
    assert.ok(version >= 1);
    for (let i = 0; i < 3; i++) {
      const again = new SqliteAuthStore(path);
      assert.deepEqual(await again.getUser("alice"), ALICE);
      assert.equal((await again.listTokens()).length, 1);
      assert.equal(await again.getSetting("rules"), "x");
      await again.close();
      assert.equal(sqliteUserVersion(path), version);
    }
  });

  test("two stores on one file (the server and a CLI command) see each other's writes", async () => {
    const path = freshFile();
    const server = new SqliteAuthStore(path);
    const cli = new SqliteAuthStore(path);
    try {
      await cli.putUser(ALICE);
      await cli.createToken(apiToken("00000000000000d1"));
      assert.deepEqual(await server.getUser("alice"), ALICE);
      await cli.revokeToken("00000000000000d1", 42);
      assert.equal((await server.getToken("00000000000000d1"))?.revokedAt, 42);
    } finally {
      await cli.close();
      await server.close();
    }
  });
});
