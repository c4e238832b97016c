import assert from "node:assert/strict";
import fs from "node:fs";
import type { Credentials } from "../types.js";

// The secrets a test used (passwords, API tokens, registry tokens, upstream credentials), in
// every form they travel in, and a check that none of them reached a log.

/** Shorter values would match by accident (and are no secret worth the name). */
const MIN_LENGTH = 8;

export class Secrets {
  readonly #values = new Set<string>();

  /** A secret as itself and base64-encoded (a token's or password's own text in a Basic header). */
  add(...values: string[]): void {
    for (const value of values) {
      if (value.length < MIN_LENGTH) throw new Error(`secret "${value}" is too short to look for in logs`);
      this.#values.add(value);
    }
  }

  /** A password and the Basic header value built from it. */
  addCredentials(creds: Credentials): void {
    this.add(creds.password, Buffer.from(`${creds.username}:${creds.password}`).toString("base64"));
  }

  get values(): readonly string[] {
    return [...this.#values];
  }

  /** The secrets `text` contains. */
  foundIn(text: string): string[] {
    return this.values.filter((secret) => text.includes(secret));
  }
}

/**
 * Fails naming the file, line and secret when any line of `files` holds a secret; `allowed`
 * exempts lines meant to carry one (the first admin's password, printed once on stderr).
 */
export function assertNoSecretInFiles(
  files: readonly string[],
  secrets: Secrets,
  allowed: (line: string) => boolean = () => false,
): void {
  assert.ok(secrets.values.length > 0, "no secrets to look for");
  const leaks: string[] = [];
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    fs.readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, index) => {
        if (allowed(line)) return;
        for (const secret of secrets.foundIn(line))
          leaks.push(`${file}:${index + 1} holds ${secret.slice(0, 6)}…: ${line.slice(0, 300)}`);
      });
  }
  assert.deepEqual(leaks, [], "secrets in logs");
}
