import { runCommand } from "../system/proc.js";
import type { Credentials } from "../types.js";

/** htpasswd's hash formats: bcrypt (-B, what registry:v2 reads) and the ones it refuses. */
export type HtpasswdFormat = "bcrypt" | "md5" | "sha1" | "crypt" | "plain";

const FLAGS: Record<HtpasswdFormat, string[]> = {
  bcrypt: ["-B", "-C", "4"],
  md5: ["-m"],
  sha1: ["-s"],
  crypt: ["-d"],
  plain: ["-p"],
};

/** One `user:hash` line as apache2-utils' `htpasswd -nb` writes it. */
export async function htpasswdLine(creds: Credentials, format: HtpasswdFormat = "bcrypt"): Promise<string> {
  const { stdout } = await runCommand("htpasswd", ["-nb", ...FLAGS[format], creds.username, creds.password]);
  return stdout.trim();
}
