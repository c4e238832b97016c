import { randomUUID } from "node:crypto";
import { link, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { exportPKCS8, generateKeyPair } from "jose";
import { isNotFound } from "../util/fs-errors.js";

/** The algorithm of wharf's registry tokens; the key a source hands out is one for it. */
export const SIGNING_ALGORITHM = "ES256";

/**
 * Where the key pair that signs wharf's registry tokens comes from. Every node of a cluster must
 * get the same key, or a token issued by one would be refused by the next; and it must outlive
 * restarts, or every client would have to log in again.
 */
export interface SigningKeySource {
  /**
   * The private key (PKCS#8 PEM, ES256; the public key derives from it). The first call anywhere
   * creates it; concurrent first calls, on one node or several, all get the one that was kept.
   */
  privateKeyPem(): Promise<string>;
}

function isAlreadyThere(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "EEXIST";
}

/** The key in one owner-only file of the data directory (`data/auth/token-signing-key.pem`). */
export class FileSigningKey implements SigningKeySource {
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  async privateKeyPem(): Promise<string> {
    try {
      return await readFile(this.#path, "utf8");
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
    const pem = await exportPKCS8(privateKey);
    await mkdir(dirname(this.#path), { recursive: true, mode: 0o700 });
    // Written whole under a temporary name, then linked into place: a link never replaces a
    // file, so a process that lost the race reads the winner's key instead of overwriting it.
    const temporary = `${this.#path}.${randomUUID()}.tmp`;
    await writeFile(temporary, pem, { mode: 0o600 });
    try {
      await link(temporary, this.#path);
      return pem;
    } catch (error) {
      if (!isAlreadyThere(error)) throw error;
      return await readFile(this.#path, "utf8");
    } finally {
      await unlink(temporary);
    }
  }
}
