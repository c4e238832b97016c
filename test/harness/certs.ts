import path from "node:path";
import { runCommand } from "./proc.js";

export interface KeyPair {
  keyPath: string;
  certPath: string;
}

/** An RSA key and a self-signed certificate for it, made by the openssl CLI into dir. */
export async function selfSignedCert(dir: string, cn: string, sans: string[] = []): Promise<KeyPair> {
  const keyPath = path.join(dir, `${cn}.key`);
  const certPath = path.join(dir, `${cn}.crt`);
  const args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyPath, "-out", certPath];
  args.push("-days", "3650", "-subj", `/CN=${cn}`);
  if (sans.length > 0) args.push("-addext", `subjectAltName=${sans.join(",")}`);
  await runCommand("openssl", args, { timeoutMs: 30_000 });
  return { keyPath, certPath };
}
