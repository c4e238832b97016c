// The registry tokens wharf signs: a round trip, a key that survives restarts, and every forged,
// foreign or stale token refused. Hostile tokens are built by hand (or with the real private key)
// so each one breaks exactly one thing.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type TokenClaims, TokenSigner } from "../../src/auth/token-signer.js";
import { FileSigningKey } from "../../src/coordination/signing-key.js";
import {
  handMadeJwt,
  hs256WithPublicKey,
  jwtHeader,
  jwtPayload,
  registryClaims,
  signedWith,
  tampered,
} from "../harness/auth/jwt.js";

const directory = mkdtempSync(join(tmpdir(), "wharf-unit-signer-"));
after(() => rmSync(directory, { recursive: true, force: true }));

const AUDIENCE = "wharf-test";
const CLAIMS: TokenClaims = {
  subject: "alice",
  access: [{ type: "repository", name: "internal/team/app", actions: ["pull", "push"] }],
};
const valid = (seconds = 300) => registryClaims(AUDIENCE, "alice", [...CLAIMS.access], seconds);

/** jose's codes for why a token fails, so that a refusal for another reason (a bug) does not pass. */
const WRONG_SIGNATURE = "ERR_JWS_SIGNATURE_VERIFICATION_FAILED";
const EXPIRED = "ERR_JWT_EXPIRED";
const WRONG_CLAIM = "ERR_JWT_CLAIM_VALIDATION_FAILED";
const ALGORITHM_REFUSED = "ERR_JOSE_ALG_NOT_ALLOWED";
const NOT_A_JWS = "ERR_JWS_INVALID";

async function refused(signer: TokenSigner, token: string, code: string, why: string): Promise<void> {
  await assert.rejects(signer.verify(token), { code }, why);
}

describe("TokenSigner", () => {
  const keyPath = join(directory, "auth", "token-signing-key.pem");
  let signer: TokenSigner;
  let pem: string;

  before(async () => {
    signer = await TokenSigner.open(new FileSigningKey(keyPath), AUDIENCE);
    pem = readFileSync(keyPath, "utf8");
  });

  test("round trip: the claims come back; the token carries issuer, audience, expiry and ES256", async () => {
    const token = await signer.sign(CLAIMS, 120);
    assert.deepEqual(await signer.verify(token), CLAIMS);
    assert.equal(jwtHeader(token).alg, "ES256");
    assert.equal(typeof jwtHeader(token).kid, "string");
    const payload = jwtPayload(token);
    assert.equal(payload.iss, "wharf");
    assert.equal(payload.aud, AUDIENCE);
    assert.equal(payload.sub, "alice");
    assert.equal(Number(payload.exp) - Number(payload.iat), 120);
  });

  test("a verified token is remembered until it expires, and refused from then on", async () => {
    const token = await signer.sign(CLAIMS, 60);
    const now = Date.now();
    assert.deepEqual(await signer.verify(token, now), CLAIMS);
    // Remembered: the same answer again, and again once its own lifetime has nearly gone.
    assert.deepEqual(await signer.verify(token, now + 1_000), CLAIMS);
    assert.deepEqual(await signer.verify(token, now + 60_000 + 25_000), CLAIMS, "within the tolerance");
    await assert.rejects(signer.verify(token, now + 60_000 + 31_000), { code: EXPIRED }, "remembered or not");
    // A forged token is never remembered as valid, whatever came before it.
    await refused(signer, tampered(token, { sub: "mallory" }), WRONG_SIGNATURE, "payload changed");
  });

  test("an anonymous token has an empty subject", async () => {
    const claims = await signer.verify(await signer.sign({ subject: "", access: [] }, 60));
    assert.deepEqual(claims, { subject: "", access: [] });
  });

  test("the key is kept owner-only and reused: tokens survive a restart", async () => {
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    const reopened = await TokenSigner.open(new FileSigningKey(keyPath), AUDIENCE);
    assert.deepEqual(await reopened.verify(await signer.sign(CLAIMS, 60)), CLAIMS);
    assert.equal(readFileSync(keyPath, "utf8"), pem);
  });

  test("a hand-made token with the real key is accepted (so each refusal below is about one change)", async () => {
    assert.deepEqual(await signer.verify(await signedWith(pem, valid())), CLAIMS);
  });

  test("refuses a token signed by another key", async () => {
    const other = await TokenSigner.open(new FileSigningKey(join(directory, "other", "key.pem")), AUDIENCE);
    await refused(signer, await other.sign(CLAIMS, 60), WRONG_SIGNATURE, "another wharf's key");
  });

  test("refuses a token whose payload was changed after signing", async () => {
    const token = await signer.sign(CLAIMS, 60);
    await refused(
      signer,
      tampered(token, { ...jwtPayload(token), sub: "admin" }),
      WRONG_SIGNATURE,
      "tampered subject",
    );
  });

  test("refuses an expired token (beyond the 30 s clock tolerance) and one not valid yet", async () => {
    await refused(signer, await signedWith(pem, valid(-60)), EXPIRED, "exp a minute ago");
    await refused(
      signer,
      await signedWith(pem, { ...valid(), nbf: Math.floor(Date.now() / 1000) + 600 }),
      WRONG_CLAIM,
      "nbf",
    );
  });

  test("refuses `alg: none`, with or without a signature part", async () => {
    const unsigned = handMadeJwt({ alg: "none", typ: "JWT" }, valid());
    await refused(signer, unsigned, ALGORITHM_REFUSED, "alg none");
    await refused(signer, unsigned.slice(0, -1), NOT_A_JWS, "alg none without the trailing dot");
    await refused(signer, handMadeJwt({ alg: "None" }, valid()), ALGORITHM_REFUSED, "alg None");
  });

  test("refuses HS256 signed with the public key as the HMAC secret", async () => {
    await refused(signer, hs256WithPublicKey(pem, valid()), ALGORITHM_REFUSED, "HS256 with the public key");
  });

  test("refuses another algorithm in the header over a genuine signature", async () => {
    const [, payload, signature] = (await signedWith(pem, valid())).split(".");
    const es384 = handMadeJwt({ alg: "ES384" }, "x").split(".")[0];
    await refused(signer, `${es384}.${payload}.${signature}`, ALGORITHM_REFUSED, "ES384 header");
  });

  test("refuses another audience and another issuer", async () => {
    await refused(
      signer,
      await signedWith(pem, { ...valid(), aud: "registry.docker.io" }),
      WRONG_CLAIM,
      "aud",
    );
    const foreign = await TokenSigner.open(new FileSigningKey(keyPath), "another-service");
    await refused(signer, await foreign.sign(CLAIMS, 60), WRONG_CLAIM, "same key, other service");
    await refused(signer, await signedWith(pem, { ...valid(), iss: "auth.docker.io" }), WRONG_CLAIM, "iss");
    const { iss: _iss, ...withoutIssuer } = valid();
    await refused(signer, await signedWith(pem, withoutIssuer), WRONG_CLAIM, "no iss");
  });

  test("refuses garbage", async () => {
    for (const [garbage, code] of [
      ["", NOT_A_JWS],
      ["garbage", NOT_A_JWS],
      ["a.b.c", NOT_A_JWS],
      ["...", NOT_A_JWS],
      // a header that parses: then it is the signature that fails
      ["eyJhbGciOiJFUzI1NiJ9..", WRONG_SIGNATURE],
      [handMadeJwt({ alg: "ES256" }, "not json", () => "c2ln"), WRONG_SIGNATURE],
      [handMadeJwt("[]", valid()), NOT_A_JWS],
      ["x".repeat(10_000), NOT_A_JWS],
    ] as const) {
      await refused(signer, garbage, code, JSON.stringify(garbage.slice(0, 40)));
    }
  });

  test("an `access` claim that is not a list reads as no access", async () => {
    const claims = await signer.verify(await signedWith(pem, { ...valid(), access: "everything" }));
    assert.deepEqual(claims.access, []);
  });
});
