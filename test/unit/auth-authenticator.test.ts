// The Authenticator: passwords and API tokens turned into principals, and the 10 s memory of
// accepted credentials and registry-token subjects (a revocation through this process, or by
// another process the store can tell of — the CLI — forgets at once; one nothing announces bites
// when the memory runs out).
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, beforeEach, describe, mock, test } from "node:test";
import { SqliteAuthStore } from "../../src/auth/auth-store.js";
import { Authenticator } from "../../src/auth/authenticator.js";
import { hashPassword } from "../../src/auth/passwords.js";
import type { Scope } from "../../src/auth/rules.js";

const SCOPE: Scope = { repositories: ["internal"], names: ["ci/**"], actions: ["pull", "push"] };
/** The memory of accepted credentials, as the authenticator documents it. */
const CACHE_MS = 10_000;

describe("Authenticator", () => {
  let store: SqliteAuthStore;
  let auth: Authenticator;

  // scrypt is slow by design: hash once, give every test a fresh store holding the same users
  const hashes: Record<string, string> = {};
  before(async () => {
    hashes.bob = await hashPassword("bob-password-1");
    hashes.root = await hashPassword("root-password-1");
  });
  beforeEach(async () => {
    store = new SqliteAuthStore(":memory:");
    auth = new Authenticator(store);
    await store.putUser({
      name: "bob",
      passwordHash: hashes.bob ?? "",
      admin: false,
      groups: ["devs"],
      createdAt: 1,
    });
    await store.putUser({
      name: "root",
      passwordHash: hashes.root ?? "",
      admin: true,
      groups: [],
      createdAt: 1,
    });
  });

  async function token(options: { expiresAt?: number; user?: string } = {}) {
    return auth.createApiToken(options.user ?? "bob", {
      description: "ci",
      scopes: [SCOPE],
      expiresAt: options.expiresAt,
    });
  }

  describe("passwords", () => {
    test("concurrent checks of the same credentials share one lookup and one hash", async () => {
      let lookups = 0;
      const getUser = store.getUser.bind(store);
      store.getUser = (name) => {
        lookups++;
        return getUser(name);
      };
      const wrong = await Promise.all(Array.from({ length: 20 }, () => auth.check("bob", "not-it")));
      assert.deepEqual(new Set(wrong), new Set([undefined]));
      assert.equal(lookups, 1, "twenty wrong attempts at once: one check");
      const right = await Promise.all(Array.from({ length: 20 }, () => auth.check("bob", "bob-password-1")));
      assert.ok(right.every((principal) => principal?.name === "bob"));
      assert.equal(lookups, 2, "twenty right ones at once: one more");
    });

    test("the right password gives the user's principal: name, admin flag, groups, no scopes", async () => {
      assert.deepEqual(await auth.check("bob", "bob-password-1"), {
        name: "bob",
        admin: false,
        groups: ["devs"],
      });
      assert.deepEqual(await auth.check("root", "root-password-1"), {
        name: "root",
        admin: true,
        groups: [],
      });
    });

    test("a wrong password, another user's password or an unknown user give nothing", async () => {
      assert.equal(await auth.check("bob", "bob-password-2"), undefined);
      assert.equal(await auth.check("bob", "root-password-1"), undefined);
      assert.equal(await auth.check("nobody", "bob-password-1"), undefined);
      assert.equal(await auth.check("", ""), undefined);
    });

    test("an unknown user costs the same scrypt as a wrong password: no user enumeration by timing", async () => {
      // what takes the time, counted instead of timed: scrypt (32 MiB) runs for tens of
      // milliseconds, a missing database row for microseconds
      await auth.check("nobody", "warm-up"); // makes the decoy hash, once per process
      const costs: Array<{ N?: number; r?: number; p?: number }> = [];
      const scrypt = crypto.scrypt;
      // passwords.ts imports scrypt by name: syncBuiltinESMExports carries the spy into that binding
      const spy = mock.method(crypto, "scrypt", (...args: Parameters<typeof crypto.scrypt>) => {
        const options = args[3];
        costs.push(typeof options === "object" ? { N: options.N, r: options.r, p: options.p } : {});
        return (scrypt as (...a: unknown[]) => void).apply(crypto, args);
      });
      syncBuiltinESMExports();
      const costOf = async (username: string) => {
        costs.length = 0;
        assert.equal(await auth.check(username, "wrong-password"), undefined);
        return [...costs];
      };
      try {
        const known = await costOf("bob");
        assert.deepEqual(known, [{ N: 2 ** 15, r: 8, p: 1 }], "a wrong password: one scrypt of bob's hash");
        assert.deepEqual(await costOf("nobody"), known, "an unknown user: the same one scrypt");
      } finally {
        spy.mock.restore();
        syncBuiltinESMExports();
      }
    });

    test("the stored hash is scrypt and does not contain the password", async () => {
      const stored = await store.getUser("bob");
      assert.match(stored?.passwordHash ?? "", /^\$scrypt\$/);
      assert.ok(!stored?.passwordHash.includes("bob-password-1"));
    });

    test("a password change takes effect at once, even right after a successful check", async () => {
      assert.ok(await auth.check("bob", "bob-password-1"));
      await auth.setPassword({ name: "bob", admin: false, groups: ["devs"] }, "bob-password-2");
      assert.equal(await auth.check("bob", "bob-password-1"), undefined);
      assert.ok(await auth.check("bob", "bob-password-2"));
    });
  });

  describe("API tokens", () => {
    test("valid: the owner's principal narrowed to the token's scopes", async () => {
      const created = await token();
      assert.match(created.secret, /^wharf_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(await auth.check("bob", created.secret), {
        name: "bob",
        admin: false,
        groups: ["devs"],
        scopes: [SCOPE],
        apiToken: created.record.id,
      });
    });

    test("only a digest of the secret is stored", async () => {
      const created = await token();
      const stored = await store.getToken(created.record.id);
      // the secret is base64url, which may hold "_" itself: it is the last 43 characters
      const secretPart = created.secret.slice(-43);
      assert.ok(stored && !JSON.stringify(stored).includes(secretPart));
      assert.match(stored?.secretHash ?? "", /^[0-9a-f]{64}$/);
    });

    test("a wrong secret for a real token id is refused", async () => {
      const created = await token();
      const secretPart = created.secret.slice(-43);
      const flipped = `${secretPart[0] === "A" ? "B" : "A"}${secretPart.slice(1)}`;
      assert.equal(await auth.check("bob", `wharf_${created.record.id}_${flipped}`), undefined);
      assert.equal(await auth.check("bob", `wharf_0123456789abcdef_${secretPart}`), undefined);
    });

    test("a token is refused under any user name but its owner's", async () => {
      const created = await token();
      assert.equal(await auth.check("root", created.secret), undefined);
      assert.equal(await auth.check("Bob", created.secret), undefined);
      assert.equal(await auth.check("", created.secret), undefined);
    });

    test("revoked: refused at once, though it was just accepted (the memory is forgotten)", async () => {
      const created = await token();
      assert.ok(await auth.check("bob", created.secret));
      assert.equal(await auth.revokeApiToken(created.record.id), true);
      assert.equal(await auth.check("bob", created.secret), undefined);
      assert.equal(await auth.revokeApiToken(created.record.id), false, "revoking twice");
    });

    test("revoked by another process (the CLI, on its own connection): refused within a millisecond", async (t) => {
      const directory = mkdtempSync(join(tmpdir(), "wharf-unit-auth-"));
      t.after(() => rmSync(directory, { recursive: true, force: true }));
      const server = new SqliteAuthStore(join(directory, "auth.db"));
      const cli = new SqliteAuthStore(join(directory, "auth.db"));
      t.after(async () => {
        await cli.close();
        await server.close();
      });
      await server.putUser({
        name: "bob",
        passwordHash: hashes.bob ?? "",
        admin: false,
        groups: [],
        createdAt: 1,
      });
      const onServer = new Authenticator(server);
      const created = await onServer.createApiToken("bob", {
        description: "ci",
        scopes: [SCOPE],
        expiresAt: undefined,
      });
      assert.ok(await onServer.check("bob", created.secret));
      assert.ok(await onServer.forSubject("bob", created.record.id));
      // what `wharf token revoke` does: the database changes on another connection
      await cli.revokeToken(created.record.id, Date.now());
      // the server's store looks at SQLite's change counter once a millisecond at most
      await new Promise((resolve) => setTimeout(resolve, 2));
      assert.equal(await onServer.check("bob", created.secret), undefined);
      assert.equal(await onServer.forSubject("bob", created.record.id), undefined);
    });

    test("a store that cannot tell of changes: one made elsewhere bites when the 10 s memory runs out", async () => {
      const blind = new Proxy(store, {
        get: (target, key) => {
          const value: unknown = Reflect.get(target, key, target);
          if (key === "version") return undefined;
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      const unaware = new Authenticator(blind);
      const created = await token();
      const t0 = Date.now();
      assert.ok(await unaware.check("bob", created.secret, t0));
      assert.ok(await unaware.forSubject("bob", created.record.id, t0));
      await store.revokeToken(created.record.id, t0);
      assert.ok(await unaware.check("bob", created.secret, t0 + CACHE_MS - 1), "remembered for up to 10 s");
      assert.ok(await unaware.forSubject("bob", created.record.id, t0 + CACHE_MS - 1));
      assert.equal(await unaware.check("bob", created.secret, t0 + CACHE_MS), undefined);
      assert.equal(await unaware.forSubject("bob", created.record.id, t0 + CACHE_MS), undefined);
    });

    test("expired: refused from its expiry on, remembered or not", async () => {
      const t0 = Date.now();
      const created = await token({ expiresAt: t0 + 5_000 });
      assert.ok(await auth.check("bob", created.secret, t0));
      assert.equal(await auth.check("bob", created.secret, t0 + 5_000), undefined, "at expiry");
      const fresh = await token({ expiresAt: t0 + 1_000 });
      assert.equal(await auth.check("bob", fresh.secret, t0 + 1_000), undefined, "never used before expiry");
    });

    test("a token whose user was deleted is refused", async () => {
      const created = await token();
      await store.deleteUser("bob");
      assert.equal(await store.getToken(created.record.id), undefined, "deleting a user deletes its tokens");
      assert.equal(await auth.check("bob", created.secret), undefined);
    });

    test("an admin's token is narrowed to its scopes too", async () => {
      const created = await token({ user: "root" });
      const principal = await auth.check("root", created.secret);
      assert.deepEqual(principal?.scopes, [SCOPE]);
    });
  });

  test("forSubject: a registry token's subject is the user as it is now; a deleted user is nobody", async () => {
    assert.deepEqual(await auth.forSubject("bob"), { name: "bob", admin: false, groups: ["devs"] });
    assert.equal(await auth.forSubject(""), undefined);
    await store.deleteUser("bob");
    assert.equal(await auth.forSubject("bob"), undefined);
  });

  test("forSubject is remembered: a warm request reads no database until something changes", async () => {
    let reads = 0;
    const countingStore = new Proxy(store, {
      get: (target, key) => {
        const value: unknown = Reflect.get(target, key, target);
        if (typeof value !== "function") return value;
        if (key !== "getUser" && key !== "getToken") return value.bind(target);
        return (...args: [string]) => {
          reads++;
          return (value as (id: string) => Promise<unknown>).apply(target, args);
        };
      },
    });
    const remembering = new Authenticator(countingStore);
    const created = await remembering.createApiToken("bob", {
      description: "ci",
      scopes: [SCOPE],
      expiresAt: undefined,
    });
    for (let i = 0; i < 5; i++) assert.ok(await remembering.forSubject("bob", created.record.id));
    assert.equal(reads, 2, "the API token and the user, once");
    await remembering.revokeApiToken(created.record.id);
    assert.equal(await remembering.forSubject("bob", created.record.id), undefined, "revoked: at once");
    for (let i = 0; i < 3; i++) assert.ok(await remembering.forSubject("root"));
    await store.putUser({ name: "root", passwordHash: "x", admin: false, groups: [], createdAt: 1 });
    assert.equal((await remembering.forSubject("root"))?.admin, false, "a change to the user: at once");
  });
});
