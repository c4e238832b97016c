import { createHash, type Hash } from "node:crypto";
import { OciError } from "./errors.js";

/** Algorithms wharf verifies. The spec requires sha256 and allows sha512. */
const HEX_LENGTH = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof HEX_LENGTH;

export interface ParsedDigest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  readonly digest: string;
}

const DIGEST_SHAPE = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Returns the parsed digest, or undefined when it is not a digest wharf can verify. */
export function tryParseDigest(value: string): ParsedDigest | undefined {
  const match = DIGEST_SHAPE.exec(value);
  if (!match) return undefined;
  const algorithm = match[1] as string;
  const hex = match[2] as string;
  if (!(algorithm in HEX_LENGTH)) return undefined;
  const expected = HEX_LENGTH[algorithm as DigestAlgorithm];
  // Upper-case hex is refused: digests are compared as strings everywhere, so only one spelling may exist.
  if (hex.length !== expected || !/^[0-9a-f]+$/.test(hex)) return undefined;
  return { algorithm: algorithm as DigestAlgorithm, hex, digest: value };
}

export function parseDigest(value: string): ParsedDigest {
  const parsed = tryParseDigest(value);
  if (!parsed) throw new OciError("DIGEST_INVALID", { message: "invalid digest", detail: { digest: value } });
  return parsed;
}

export function isDigest(value: string): boolean {
  return tryParseDigest(value) !== undefined;
}

export function createDigester(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}
