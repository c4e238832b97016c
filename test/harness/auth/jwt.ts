import { createHmac, createPublicKey } from "node:crypto";
import { importPKCS8, SignJWT } from "jose";

// Registry tokens read and forged by hand: what a JWT says, and tokens that break exactly one
// rule (a foreign key, `alg: none`, HS256 keyed with the public key, a claim changed), for tests
// that a token verifier refuses them.

const b64url = (value: object | string) =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

function part(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[index] ?? "", "base64url").toString()) as Record<
    string,
    unknown
  >;
}

export const jwtHeader = (token: string) => part(token, 0);
export const jwtPayload = (token: string) => part(token, 1);

/** A JWT with any header and payload; `sign` gets `header.payload` (default: no signature). */
export function handMadeJwt(
  header: object | string,
  payload: object | string,
  sign: (input: string) => string = () => "",
): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${sign(input)}`;
}

/** An ES256 JWT signed with the private key in `pem` (wharf's own, read from its data directory). */
export async function signedWith(pem: string, payload: Record<string, unknown>, header: object = {}) {
  const key = await importPKCS8(pem, "ES256");
  return new SignJWT(payload).setProtectedHeader({ alg: "ES256", typ: "JWT", ...header }).sign(key);
}

/** The algorithm-confusion forgery: HS256 with the verifier's public key (PEM text) as the secret. */
export function hs256WithPublicKey(privatePem: string, payload: object): string {
  const spki = createPublicKey(privatePem).export({ type: "spki", format: "pem" }).toString();
  return handMadeJwt({ alg: "HS256", typ: "JWT" }, payload, (input) =>
    createHmac("sha256", spki).update(input).digest("base64url"),
  );
}

/** `payload` re-encoded into `token` with its original signature: a claim changed after signing. */
export function tampered(token: string, payload: object): string {
  const [header, , signature] = token.split(".");
  return `${header}.${b64url(payload)}.${signature}`;
}

/** Registry-token claims as wharf signs them, valid for `seconds` from now (negative: expired). */
export function registryClaims(
  audience: string,
  subject: string,
  access: object[],
  seconds = 300,
): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: "wharf", aud: audience, sub: subject, iat: now, nbf: now, exp: now + seconds, access };
}
