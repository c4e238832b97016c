import { createHash, createPublicKey, randomUUID } from "node:crypto";
import { type CryptoKey, importPKCS8, importSPKI, jwtVerify, SignJWT } from "jose";
import { SIGNING_ALGORITHM as ALGORITHM, type SigningKeySource } from "../coordination/signing-key.js";

const ISSUER = "wharf";

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

  /** The claims of a token this signer issued and that is still valid; throws otherwise. */
  async verify(token: string): Promise<TokenClaims> {
    const { payload } = await jwtVerify(token, this.#publicKey, {
      algorithms: [ALGORITHM],
      issuer: ISSUER,
      audience: this.#audience,
      clockTolerance: 30,
    });
    const access = Array.isArray(payload.access) ? (payload.access as AccessEntry[]) : [];
    return {
      subject: typeof payload.sub === "string" ? payload.sub : "",
      access,
      ...(typeof payload.tid === "string" ? { apiToken: payload.tid } : {}),
    };
  }
}
