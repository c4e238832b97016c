import { createHash, createPublicKey, randomUUID } from "node:crypto";
import { type CryptoKey, importPKCS8, importSPKI, jwtVerify, SignJWT } from "jose";
import { SIGNING_ALGORITHM as ALGORITHM, type SigningKeySource } from "../coordination/signing-key.js";
import { Lru } from "../util/lru.js";

const ISSUER = "wharf";
/** Clocks of wharf's nodes and its clients may disagree this much. */
const CLOCK_TOLERANCE_SECONDS = 30;
/** Verified tokens remembered: a pull's worth for each of thousands of clients. */
const VERIFIED_TOKENS = 10_000;

/** One grant in a registry token, as Docker's token specification writes it. */
export interface AccessEntry {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

export interface TokenClaims {
  /** The user; empty for anonymous tokens. */
  readonly subject: string;
  readonly access: readonly AccessEntry[];
  /** The API token the subject logged in with, if any: the registry token dies with it. */
  readonly apiToken?: string;
}

/**
 * Signs and checks the registry tokens wharf's token endpoint hands out, with the key of a
 * SigningKeySource (on one node, a file in the data directory), so tokens survive restarts.
 * Verification pins the algorithm, issuer and audience: `alg: none`, tokens from other
 * services and expired tokens are all refused.
 */
export class TokenSigner {
  readonly #privateKey: CryptoKey;
  readonly #publicKey: CryptoKey;
  readonly #keyId: string;
  readonly #audience: string;
  readonly #verified = new Lru<string, { claims: TokenClaims; until: number }>({
    maxEntries: VERIFIED_TOKENS,
  });

  private constructor(privateKey: CryptoKey, publicKey: CryptoKey, keyId: string, audience: string) {
    this.#privateKey = privateKey;
    this.#publicKey = publicKey;
    this.#keyId = keyId;
    this.#audience = audience;
  }

  static async open(key: SigningKeySource, audience: string): Promise<TokenSigner> {
    const pem = await key.privateKeyPem();
    const privateKey = await importPKCS8(pem, ALGORITHM);
    const spki = createPublicKey(pem).export({ type: "spki", format: "pem" }).toString();
    const publicKey = await importSPKI(spki, ALGORITHM);
    const keyId = createHash("sha256").update(spki).digest("base64url").slice(0, 16);
    return new TokenSigner(privateKey, publicKey, keyId, audience);
  }

  get audience(): string {
    return this.#audience;
  }

  async sign(claims: TokenClaims, lifetimeSeconds: number): Promise<string> {
    return new SignJWT({ access: claims.access, ...(claims.apiToken ? { tid: claims.apiToken } : {}) })
      .setProtectedHeader({ alg: ALGORITHM, typ: "JWT", kid: this.#keyId })
      .setIssuer(ISSUER)
      .setSubject(claims.subject)
      .setAudience(this.#audience)
      .setIssuedAt()
      .setNotBefore("0s")
      .setExpirationTime(`${lifetimeSeconds}s`)
      .setJti(randomUUID())
      .sign(this.#privateKey);
  }

  /**
   * The claims of a token this signer issued and that is still valid; throws otherwise. A token
   * verified once is remembered until it expires: clients send the same one on every request of
   * a pull, and its signature cannot become wrong. Whether its subject or API token still stands
   * is not the signature's business: the authenticator answers that at each request.
   */
  async verify(token: string, now = Date.now()): Promise<TokenClaims> {
    const remembered = this.#verified.get(token);
    if (remembered && now < remembered.until) return remembered.claims;
    const { payload } = await jwtVerify(token, this.#publicKey, {
      algorithms: [ALGORITHM],
      issuer: ISSUER,
      audience: this.#audience,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      currentDate: new Date(now),
    });
    const access = Array.isArray(payload.access) ? (payload.access as AccessEntry[]) : [];
    const claims: TokenClaims = {
      subject: typeof payload.sub === "string" ? payload.sub : "",
      access,
      ...(typeof payload.tid === "string" ? { apiToken: payload.tid } : {}),
    };
    // jose refuses a token without `exp` unless asked not to; ours always carry one.
    if (typeof payload.exp === "number")
      this.#verified.set(token, { claims, until: (payload.exp + CLOCK_TOLERANCE_SECONDS) * 1000 });
    return claims;
  }
}
