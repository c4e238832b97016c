import { tryParseDigest } from "./digest.js";
import { OciError } from "./errors.js";

/**
 * Path components of a repository name, as the distribution spec writes them, joined by `/`:
 * one expression for the whole name, since splitting it first was a thirtieth of a warm GET.
 */
const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Clients cap host + "/" + name at 255 characters; a longer name could never be pulled. */
export const MAX_NAME_LENGTH = 255;

export function isValidName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return false;
  return NAME.test(name);
}

export function assertValidName(name: string): string {
  if (!isValidName(name)) throw new OciError("NAME_INVALID", { detail: { name } });
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export type Reference = { kind: "tag"; tag: string } | { kind: "digest"; digest: string };

/**
 * A manifest reference is a digest when it has the digest's colon, a tag otherwise; tags cannot
 * contain a colon, so the two never overlap.
 */
export function parseReference(reference: string): Reference {
  if (reference.includes(":")) {
    const parsed = tryParseDigest(reference);
    if (!parsed) throw new OciError("DIGEST_INVALID", { message: "invalid digest", detail: { reference } });
    return { kind: "digest", digest: parsed.digest };
  }
  if (!isValidTag(reference))
    throw new OciError("TAG_INVALID", { message: "invalid tag", detail: { reference } });
  return { kind: "tag", tag: reference };
}

export function referenceString(reference: Reference): string {
  return reference.kind === "tag" ? reference.tag : reference.digest;
}
