import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ApiTokenRecord, AuthStore, SessionRecord, UserRecord } from "../../src/auth/auth-store.js";

export const ALICE: UserRecord = {
  name: "alice",
  passwordHash: "$scrypt$N=32768,r=8,p=1$c2FsdA==$a2V5",
  admin: false,
  groups: ["devs", "ops"],
  createdAt: 1_700_000_000_000,
};

export function apiToken(id: string, fields: Partial<ApiTokenRecord> = {}): ApiTokenRecord {
  return {
    id,
    user: "alice",
    secretHash: "ab".repeat(32),
    description: "ci robot",
    scopes: [{ repositories: ["internal"], names: ["ci/**"], actions: ["pull", "push"] }],
    expiresAt: undefined,
    revokedAt: undefined,
    createdAt: 1_700_000_000_500,
    ...fields,
  };
}

export function session(idHash: string, fields: Partial<SessionRecord> = {}): SessionRecord {
  return {
    idHash,
    user: "alice",
    csrfToken: "c".repeat(43),
    createdAt: 1_700_000_000_000,
    expiresAt: 1_700_000_100_000,
    ...fields,
  };
}

/**
 * The behaviour every AuthStore must have, whatever stands behind it (SQLite, PostgreSQL): run
 * it with a function that opens a fresh, empty store.
 */
export function authStoreConformance(label: string, open: () => AuthStore | Promise<AuthStore>): void {
  describe(label, () => {
    test("users: put, get, list, count, delete", async () => {
      const store = await open();
      try {
        assert.equal((await store.listUsers()).length, 0);
        assert.equal(await store.getUser("alice"), undefined);
        await store.putUser(ALICE);
        await store.putUser({ ...ALICE, name: "admin", admin: true, groups: [] });
        assert.deepEqual(await store.getUser("alice"), ALICE);
        assert.deepEqual(
          (await store.listUsers()).map((u) => [u.name, u.admin]),
          [
            ["admin", true],
            ["alice", false],
          ],
        );
        assert.equal((await store.listUsers()).length, 2);
        assert.equal(await store.deleteUser("alice"), true);
        assert.equal(await store.deleteUser("alice"), false);
        assert.equal((await store.listUsers()).length, 1);
      } finally {
        await store.close();
      }
    });

    test("putting an existing user changes hash, admin flag and groups, but keeps its creation time", async () => {
      const store = await open();
      try {
        await store.putUser(ALICE);
        await store.putUser({ ...ALICE, passwordHash: "$2y$new", admin: true, groups: [], createdAt: 1 });
        assert.deepEqual(await store.getUser("alice"), {
          ...ALICE,
          passwordHash: "$2y$new",
          admin: true,
          groups: [],
        });
      } finally {
        await store.close();
      }
    });

    test("tokens: create, get, list in creation order, revoke once", async () => {
      const store = await open();
      try {
        await store.putUser(ALICE);
        await store.createToken(apiToken("00000000000000a2", { createdAt: 2, expiresAt: 99 }));
        await store.createToken(apiToken("00000000000000a1", { createdAt: 1 }));
        assert.deepEqual(
          await store.getToken("00000000000000a2"),
          apiToken("00000000000000a2", {
            createdAt: 2,
            expiresAt: 99,
          }),
        );
        assert.deepEqual(
          (await store.listTokens()).map((t) => t.id),
          ["00000000000000a1", "00000000000000a2"],
        );
        assert.equal(await store.getToken("0000000000000000"), undefined);
        assert.equal(await store.revokeToken("00000000000000a1", 1234), true);
        assert.equal(await store.revokeToken("00000000000000a1", 5678), false, "already revoked");
        assert.equal(await store.revokeToken("0000000000000000", 1), false, "no such token");
        assert.equal((await store.getToken("00000000000000a1"))?.revokedAt, 1234);
      } finally {
        await store.close();
      }
    });

    test("deleting a user deletes its tokens, not other users'", async () => {
      const store = await open();
      try {
        await store.putUser(ALICE);
        await store.putUser({ ...ALICE, name: "bob" });
        await store.createToken(apiToken("00000000000000b1"));
        await store.createToken(apiToken("00000000000000b2", { user: "bob" }));
        await store.deleteUser("alice");
        assert.deepEqual(
          (await store.listTokens()).map((t) => t.user),
          ["bob"],
        );
      } finally {
        await store.close();
      }
    });

    test("settings: absent, set, overwritten", async () => {
      const store = await open();
      try {
        assert.equal(await store.getSetting("rules"), undefined);
        await store.setSetting("rules", "one");
        await store.setSetting("rules", "two");
        assert.equal(await store.getSetting("rules"), "two");
      } finally {
        await store.close();
      }
    });

    test("sessions: create, get, extend, delete; purging removes only ended ones", async () => {
      const store = await open();
      try {
        await store.putUser(ALICE);
        await store.createSession(session("h1"));
        await store.createSession(session("h2", { expiresAt: 1_700_000_200_000 }));
        assert.deepEqual(await store.getSession("h1"), session("h1"));
        assert.equal(await store.getSession("nope"), undefined);
        assert.equal(await store.extendSession("h1", 1_700_000_300_000), true);
        assert.equal((await store.getSession("h1"))?.expiresAt, 1_700_000_300_000);
        assert.equal(await store.extendSession("nope", 1), false);
        assert.equal(await store.purgeSessions(1_700_000_250_000), 1);
        assert.equal(await store.getSession("h2"), undefined);
        assert.equal(await store.deleteSession("h1"), true);
        assert.equal(await store.deleteSession("h1"), false);
      } finally {
        await store.close();
      }
    });

    test("deleting a user ends its sessions, not other users'", async () => {
      const store = await open();
      try {
        await store.putUser(ALICE);
        await store.putUser({ ...ALICE, name: "bob" });
        await store.createSession(session("a1"));
        await store.createSession(session("b1", { user: "bob" }));
        await store.deleteUser("alice");
        assert.equal(await store.getSession("a1"), undefined);
        assert.equal((await store.getSession("b1"))?.user, "bob");
      } finally {
        await store.close();
      }
    });
  });
}
