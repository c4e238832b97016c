// Password hashes (wharf's scrypt, bcrypt imported from htpasswd) and htpasswd parsing.
import assert from "node:assert/strict";
import { scryptSync } from "node:crypto";
import { describe, test } from "node:test";
import bcrypt from "bcryptjs";
import { isValidUserName, parseHtpasswd } from "../../src/auth/htpasswd.js";
import { generatePassword, hashPassword, isBcrypt, verifyPassword } from "../../src/auth/passwords.js";
import { toOciError } from "../../src/http/error-mapping.js";

/** `htpasswd -nbB -C 5 ci 'correct horse'` (apache2-utils): the `$2y$` form registry:v2 files hold. */
const HTPASSWD_B = "$2y$05$P2AuUBDml46CD5/7MCr4j.FfPBGpFBzG1a8TkwJFMQEPN8lG0xQDe";
/** The same tool's other formats, none of which wharf accepts (`-m`, `-s`, `-d`). */
const HTPASSWD_MD5 = "$apr1$syEB/6z1$DGXDjEp3UquaRZ8/hKYor1";
const HTPASSWD_SHA = "{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=";
const HTPASSWD_CRYPT = "72/INtN2oDVtY";

describe("scrypt hashes", () => {
  test("round trip: the password matches its hash, another password does not", async () => {
    const hash = await hashPassword("s3cret-Passw0rd");
    assert.match(hash, /^\$scrypt\$N=32768,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.equal(await verifyPassword("s3cret-Passw0rd", hash), true);
    assert.equal(await verifyPassword("s3cret-passw0rd", hash), false);
    assert.equal(await verifyPassword("s3cret-Passw0rd ", hash), false);
    assert.equal(await verifyPassword("", hash), false);
  });

  test("salted: the same password hashes differently each time, and neither hash holds it", async () => {
    const [a, b] = await Promise.all([hashPassword("same-password"), hashPassword("same-password")]);
    assert.notEqual(a, b);
    for (const hash of [a, b]) assert.ok(!hash.includes("same-password"));
  });

  test("unicode passwords survive the round trip", async () => {
    const hash = await hashPassword("pässwörd-密码-🔑");
    assert.equal(await verifyPassword("pässwörd-密码-🔑", hash), true);
    assert.equal(await verifyPassword("passwörd-密码-🔑", hash), false);
  });

  test("the parameters stored with a hash are the ones used to check it", async () => {
    const hash = await hashPassword("param-test");
    const weaker = hash.replace("N=32768", "N=16384");
    assert.equal(await verifyPassword("param-test", weaker), false);
  });
});

describe("bcrypt hashes from htpasswd -B", () => {
  test("a hash written by the htpasswd CLI ($2y$) verifies", async () => {
    assert.ok(isBcrypt(HTPASSWD_B));
    assert.equal(await verifyPassword("correct horse", HTPASSWD_B), true);
    assert.equal(await verifyPassword("correct horse battery", HTPASSWD_B), false);
    assert.equal(await verifyPassword("Correct horse", HTPASSWD_B), false);
  });

  test("$2a$ and $2b$ hashes verify too", async () => {
    const b = bcrypt.hashSync("other pass", 4);
    assert.ok(b.startsWith("$2b$"));
    assert.equal(await verifyPassword("other pass", b), true);
    const a = `$2a$${b.slice(4)}`;
    assert.equal(await verifyPassword("other pass", a), true);
    assert.equal(await verifyPassword("other", a), false);
  });
});

describe("garbage hashes never match", () => {
  const garbage = [
    "",
    "correct horse",
    "$scrypt$",
    "$scrypt$N=32768,r=8,p=1$$",
    "$scrypt$N=32768,r=8,p=1$c2FsdA==$",
    "$scrypt$N=32768,r=8,p=1$c2FsdA==$a2V5",
    "$scrypt$N=32768,r=8,p=1$not base64!$a2V5",
    HTPASSWD_MD5,
    HTPASSWD_SHA,
    HTPASSWD_CRYPT,
    "$2y$05$short",
    `${HTPASSWD_B}x`,
    `$2x$${HTPASSWD_B.slice(4)}`,
    `$2y$5$${HTPASSWD_B.slice(7)}`,
    ` ${HTPASSWD_B}`,
  ];
  for (const hash of garbage) {
    test(`${JSON.stringify(hash)} matches no password`, async () => {
      for (const password of ["", "correct horse", hash, "pw"]) {
        assert.equal(await verifyPassword(password, hash), false, `password ${JSON.stringify(password)}`);
      }
    });
  }

  // A hash whose parameters scrypt refuses (N not a power of two, zero, or needing more memory
  // than allowed) can only come from a tampered database; it must still be a plain "no", not an
  // exception that turns a login into a 500.
  for (const hash of [
    "$scrypt$N=3,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA==$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
    "$scrypt$N=0,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA==$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
    "$scrypt$N=1073741824,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA==$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
  ]) {
    test(`scrypt parameters out of range (${hash.slice(8, hash.indexOf(","))}) are a mismatch, not an error`, async () => {
      assert.equal(await verifyPassword("anything", hash), false);
    });
  }
});

test("generated passwords: 24 characters from an unambiguous alphabet, all different", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const password = generatePassword();
    assert.match(password, /^[A-HJ-NP-Za-km-z2-9]{24}$/);
    seen.add(password);
  }
  assert.equal(seen.size, 200);
});

describe("parseHtpasswd", () => {
  const file = [
    "# registry:v2 users", //                         1 comment
    "", //                                              2 blank
    `ci:${HTPASSWD_B}`, //                              3 bcrypt
    `md5user:${HTPASSWD_MD5}`, //                       4 apr1 (htpasswd -m)
    `shauser:${HTPASSWD_SHA}`, //                       5 SHA-1 (htpasswd -s)
    `cryptuser:${HTPASSWD_CRYPT}`, //                   6 crypt (htpasswd -d)
    "plainuser:pw", //                                  7 plain text (htpasswd -p)
    "no colon at all", //                               8 malformed
    `:${HTPASSWD_B}`, //                                9 no user
    `bad user:${HTPASSWD_B}`, //                       10 invalid user name
    `  deploy@example.com:${HTPASSWD_B}  `, //         11 bcrypt, surrounded by blanks
    `ci.bot:${bcrypt.hashSync("x", 4)}`, //            12 bcrypt $2b$
  ].join("\r\n");
  const { entries, skipped } = parseHtpasswd(file);

  test("bcrypt entries become users, whatever the line endings and surrounding blanks", () => {
    assert.deepEqual(
      entries.map((e) => e.user),
      ["ci", "deploy@example.com", "ci.bot"],
    );
    assert.equal(entries[0]?.hash, HTPASSWD_B);
    assert.equal(entries[1]?.hash, HTPASSWD_B);
  });

  test("everything else is skipped with its line number; comments and blank lines silently", () => {
    assert.deepEqual(
      skipped.map((s) => s.line),
      [4, 5, 6, 7, 8, 9, 10],
    );
    for (const s of skipped.slice(0, 4)) assert.match(s.reason, /not a bcrypt hash/);
    for (const s of skipped.slice(4)) assert.match(s.reason, /not a user:hash line/);
    assert.match(skipped[0]?.reason ?? "", /^md5user:/, "the reason names the user");
  });

  test("a reason never repeats the hash or password it skipped", () => {
    for (const s of skipped) {
      for (const secret of [HTPASSWD_MD5, HTPASSWD_SHA, HTPASSWD_CRYPT, ":pw", HTPASSWD_B]) {
        assert.ok(!s.reason.includes(secret), `${s.line}: ${s.reason}`);
      }
    }
  });

  test("an empty file has no entries and nothing to skip", () => {
    assert.deepEqual(parseHtpasswd(""), { entries: [], skipped: [] });
    assert.deepEqual(parseHtpasswd("\n# only a comment\n\n"), { entries: [], skipped: [] });
  });
});

test("user names: plain, at most 64 characters, as they appear in logs and tokens", () => {
  for (const good of ["a", "ci", "ci.bot", "deploy@example.com", "team_a-1", "A".repeat(64)])
    assert.ok(isValidUserName(good), good);
  for (const bad of ["", ".hidden", "-x", "a b", "a:b", "a/b", "é", "A".repeat(65), "a\nb", "x\u0000"])
    assert.ok(!isValidUserName(bad), JSON.stringify(bad));
});

describe("a flood of checks", () => {
  test("two hash at once, 64 wait, the rest are refused at once with 429 and Retry-After", async () => {
    // A cheap hash (N=16): the queue is what is under test, not scrypt's cost.
    const salt = Buffer.from("0123456789abcdef");
    const key = scryptSync("pw", salt, 32, { N: 16, r: 1, p: 1 });
    const cheap = `$scrypt$N=16,r=1,p=1$${salt.toString("base64")}$${key.toString("base64")}`;
    const results = await Promise.allSettled(Array.from({ length: 70 }, () => verifyPassword("pw", cheap)));
    const refused = results.filter((result) => result.status === "rejected");
    assert.equal(results.filter((result) => result.status === "fulfilled" && result.value).length, 66);
    assert.equal(refused.length, 4);
    for (const result of refused) {
      // What the client hears, once the HTTP edge has mapped the refusal.
      const error = toOciError((result as PromiseRejectedResult).reason);
      assert.ok(error, "a refusal the edge knows");
      assert.equal(error.code, "TOOMANYREQUESTS");
      assert.equal(error.status, 429);
      assert.equal(error.headers["retry-after"], "1");
    }
    assert.equal(await verifyPassword("pw", cheap), true, "and once the flood has passed, checks run again");
  });
});
