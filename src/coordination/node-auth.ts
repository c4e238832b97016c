import { createHmac, timingSafeEqual } from "node:crypto";
import type { SigningKeySource } from "./signing-key.js";

/** How long a node's signature on a request stays good: long enough for clock skew, short against replay. */
const VALID_MS = 60_000;

/**
 * What lets one node ask another for internal things (the bytes of a download in progress): an
 * HMAC over the request's subject and an expiry, keyed by a key derived from the cluster's signing
 * key, which only the nodes (and whoever may read the database) have. Nothing is configured.
 */
export class NodeAuth {
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  static async open(source: SigningKeySource): Promise<NodeAuth> {
    // A key of its own, so a registry token's signature and a node's never stand in for each other.
    const key = createHmac("sha256", await source.privateKeyPem())
      .update("wharf node-to-node")
      .digest();
    return new NodeAuth(key);
  }

  /** A header value vouching for a request about `subject` until a minute from `now`. */
  sign(subject: string, now = Date.now()): string {
    const expires = now + VALID_MS;
    return `${expires}.${this.#mac(subject, expires)}`;
  }

  /** True when `header` was signed by a node of this cluster for `subject` and has not expired. */
  verify(subject: string, header: string | undefined, now = Date.now()): boolean {
    const match = /^(\d+)\.([A-Za-z0-9_-]+)$/.exec(header ?? "");
    if (!match) return false;
    const expires = Number(match[1]);
    if (!(expires > now && expires <= now + 2 * VALID_MS)) return false;
    const given = Buffer.from(match[2] ?? "", "base64url");
    const expected = Buffer.from(this.#mac(subject, expires), "base64url");
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #mac(subject: string, expires: number): string {
    return createHmac("sha256", this.#key).update(`${subject}\n${expires}`).digest("base64url");
  }
}
