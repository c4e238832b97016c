import { isBcrypt } from "./passwords.js";

export interface HtpasswdEntry {
  readonly user: string;
  readonly hash: string;
}

export interface HtpasswdReading {
  readonly entries: HtpasswdEntry[];
  /** Lines that cannot be imported, with why (only bcrypt is safe enough, as in registry:v2). */
  readonly skipped: Array<{ line: number; reason: string }>;
}

/** Parses an htpasswd file (`user:hash` per line, `#` comments). */
export function parseHtpasswd(text: string): HtpasswdReading {
  const entries: HtpasswdEntry[] = [];
  const skipped: Array<{ line: number; reason: string }> = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const colon = line.indexOf(":");
    const user = colon > 0 ? line.slice(0, colon) : "";
    const hash = colon > 0 ? line.slice(colon + 1) : "";
    if (!isValidUserName(user))
      skipped.push({ line: index + 1, reason: "not a user:hash line with a valid user name" });
    else if (!isBcrypt(hash))
      skipped.push({ line: index + 1, reason: `${user}: not a bcrypt hash (use htpasswd -B)` });
    else entries.push({ user, hash });
  });
  return { entries, skipped };
}

/** User names are plain: letters, digits, `.`, `_`, `-`, `@`; they appear in logs and tokens. */
export function isValidUserName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name);
}
