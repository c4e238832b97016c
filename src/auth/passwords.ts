import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import bcrypt from "bcryptjs";
import { OverloadedError } from "../util/errors.js";
import { Slots } from "../util/slots.js";

/**
 * scrypt is memory-hard (here 32 MiB per hash): a stolen database is expensive to attack.
 * The parameters are stored with each hash so they can be raised later without a migration.
 */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keyLength: 32, maxmem: 64 * 1024 * 1024 } as const;

/**
 * Hashing is slow by design: scrypt on libuv's thread pool, which also reads and writes every
 * blob, bcrypt on the event loop itself. A flood of logins must take neither over, nor 32 MiB per
 * scrypt: at most two checks run at once, the rest wait.
 */
const hashing = new Slots(2);
/** Checks that may wait for a hash; past this, a login is refused at once with 429 and Retry-After. */
const MAX_WAITING = 64;

/** A hash slot for `work`, or a 429 when a flood already fills the queue. */
function hashed<T>(work: () => Promise<T>): Promise<T> {
  if (hashing.waiting >= MAX_WAITING) {
    throw new OverloadedError("too many logins at once: try again in a moment", 1);
  }
  return hashing.run(work);
}

function scryptAsync(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return hashed(
    () =>
      new Promise((resolve, reject) =>
        scrypt(password, salt, SCRYPT.keyLength, { N, r, p, maxmem: SCRYPT.maxmem }, (error, key) =>
          error ? reject(error) : resolve(key),
        ),
      ),
  );
}

/** `$scrypt$N=32768,r=8,p=1$<salt base64>$<key base64>` */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  return `$scrypt$N=${SCRYPT.N},r=${SCRYPT.r},p=${SCRYPT.p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** bcrypt, as htpasswd -B and registry:v2 write it ($2y$, $2a$, $2b$). */
export function isBcrypt(hash: string): boolean {
  return /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash);
}

/**
 * A tampered or foreign hash must not make wharf spend gigabytes or throw: only costs scrypt
 * accepts within wharf's memory cap (N a power of two) are tried.
 */
function plausibleCost({ N, r, p }: { N: number; r: number; p: number }): boolean {
  const powerOfTwo = N > 1 && (N & (N - 1)) === 0;
  return powerOfTwo && N <= 2 ** 20 && r >= 1 && r <= 32 && p >= 1 && p <= 16 && 128 * N * r <= SCRYPT.maxmem;
}

/** A hash of no one's password, checked for unknown users so their refusal takes as long as a wrong password. */
let decoy: Promise<string> | undefined;

export async function verifyNoPassword(password: string): Promise<false> {
  decoy ??= hashPassword(randomBytes(16).toString("hex"));
  await verifyPassword(password, await decoy);
  return false;
}

/**
 * Checks a password against a stored hash: wharf's own scrypt hashes, or bcrypt hashes imported
 * from an htpasswd file. Anything else never matches.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (isBcrypt(stored)) return hashed(() => bcrypt.compare(password, stored.replace(/^\$2y\$/, "$2b$")));
  const match = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!match) return false;
  const [, N, r, p, salt, key] = match as unknown as [string, string, string, string, string, string];
  const cost = { N: Number(N), r: Number(r), p: Number(p) };
  if (!plausibleCost(cost)) return false;
  const expected = Buffer.from(key, "base64");
  const actual = await scryptAsync(password, Buffer.from(salt, "base64"), cost.N, cost.r, cost.p);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** A password for the first admin when none is given: 24 characters from a 62-letter alphabet. */
export function generatePassword(): string {
  const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  return Array.from(randomBytes(24), (byte) => alphabet[byte % alphabet.length]).join("");
}
