// The file that keeps the token signing key: created once, owner-only, and the same key for every
// caller, even when several start at the same moment (two processes on one data directory).
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { FileSigningKey } from "../../src/coordination/signing-key.js";

const directory = mkdtempSync(join(tmpdir(), "wharf-unit-signing-key-"));
after(() => rmSync(directory, { recursive: true, force: true }));

describe("FileSigningKey", () => {
  test("concurrent first calls all get the one key that was kept, and leave no temporary file", async () => {
    const path = join(directory, "race", "token-signing-key.pem");
    const keys = await Promise.all(Array.from({ length: 8 }, () => new FileSigningKey(path).privateKeyPem()));
    const kept = readFileSync(path, "utf8");
    assert.match(kept, /^-----BEGIN PRIVATE KEY-----/);
    assert.deepEqual(new Set(keys), new Set([kept]));
    assert.deepEqual(readdirSync(join(directory, "race")), ["token-signing-key.pem"]);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(directory, "race")).mode & 0o777, 0o700);
  });

  test("a kept key is read back unchanged", async () => {
    const path = join(directory, "kept", "key.pem");
    const first = await new FileSigningKey(path).privateKeyPem();
    assert.equal(await new FileSigningKey(path).privateKeyPem(), first);
  });
});
