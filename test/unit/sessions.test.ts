// Browser sessions: a secret in the cookie, its hash in the auth database, a CSRF token per
// session; they end when idle, at a maximum age, when closed, and with their user.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SqliteAuthStore } from "../../src/auth/auth-store.js";
import { SESSION_IDLE_MS, SESSION_MAX_AGE_MS, Sessions } from "../../src/auth/sessions.js";
import { ManualClock } from "../fakes/manual-clock.js";
import { ALICE } from "./auth-store.suite.js";

async function setup() {
  const store = new SqliteAuthStore(":memory:");
  await store.putUser(ALICE);
  const clock = new ManualClock();
  return { store, clock, sessions: new Sessions(store, clock) };
}

describe("Sessions", () => {
  test("a session resolves to its user with its CSRF token; the store keeps only a hash of the secret", async () => {
    const { store, sessions } = await setup();
    const opened = await sessions.open("alice");
    assert.match(opened.secret, /^[A-Za-z0-9_-]{43}$/);
    const live = await sessions.resolve(opened.secret);
    assert.equal(live?.principal.name, "alice");
    assert.deepEqual(live?.principal.groups, ALICE.groups);
    assert.equal(live?.csrfToken, opened.csrfToken);
    assert.equal(await store.getSession(opened.secret), undefined);
    assert.equal(await sessions.resolve("x".repeat(43)), undefined);
    assert.equal(await sessions.resolve("not even the right shape"), undefined);
  });

  test("use keeps a session alive; idleness ends it", async () => {
    const { clock, sessions } = await setup();
    const { secret } = await sessions.open("alice");
    clock.advance(SESSION_IDLE_MS - 60_000);
    assert.ok(await sessions.resolve(secret));
    clock.advance(SESSION_IDLE_MS - 60_000);
    assert.ok(await sessions.resolve(secret), "the use before moved its end");
    clock.advance(SESSION_IDLE_MS + 1);
    assert.equal(await sessions.resolve(secret), undefined);
  });

  test("however often used, a session ends at its maximum age", async () => {
    const { clock, sessions } = await setup();
    const { secret } = await sessions.open("alice");
    for (let at = 0; at < SESSION_MAX_AGE_MS - 3_600_000; at += 3_600_000) {
      clock.advance(3_600_000);
      assert.ok(await sessions.resolve(secret), `alive after ${at / 3_600_000 + 1} h`);
    }
    clock.advance(3_600_000 + 1);
    assert.equal(await sessions.resolve(secret), undefined);
  });

  test("closing ends it; so does deleting its user, and a changed admin flag shows at once", async () => {
    const { store, sessions } = await setup();
    const first = await sessions.open("alice");
    assert.equal(await sessions.close(first.secret), true);
    assert.equal(await sessions.resolve(first.secret), undefined);
    const second = await sessions.open("alice");
    await store.putUser({ ...ALICE, admin: true });
    assert.equal((await sessions.resolve(second.secret))?.principal.admin, true);
    await store.deleteUser("alice");
    assert.equal(await sessions.resolve(second.secret), undefined);
  });
});
