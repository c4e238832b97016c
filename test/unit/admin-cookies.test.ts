// The dashboard's session cookie: what the browser is told to do with it, and reading it back.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cookieValues, sessionCookie } from "../../src/http/admin/cookies.js";

describe("session cookie", () => {
  test("HttpOnly, SameSite=Strict, for the whole host; Secure only under TLS; Max-Age 0 deletes", () => {
    assert.equal(
      sessionCookie("wharf_session", "abc", { maxAge: 604800, secure: false }),
      "wharf_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=604800",
    );
    assert.equal(
      sessionCookie("wharf_session", "abc", { maxAge: 10.7, secure: true }),
      "wharf_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=10; Secure",
    );
    assert.match(sessionCookie("wharf_session", "", { maxAge: -5, secure: false }), /Max-Age=0/);
  });

  test("every value of the name is read back, other cookies and malformed parts ignored", () => {
    assert.deepEqual(cookieValues(undefined, "wharf_session"), []);
    assert.deepEqual(
      cookieValues("a=1; wharf_session=x; b; wharf_session = y ;wharf_sessionX=z", "wharf_session"),
      ["x", "y"],
    );
  });
});
