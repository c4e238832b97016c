import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { createSecureContext } from "node:tls";

/** The configuration's `tls` section: PEM files. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/** What may be said about a certificate in logs and messages; nothing here comes from the key. */
export interface CertificateSummary {
  readonly subject: string;
  readonly names: readonly string[];
  readonly issuer: string;
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly sha256: string;
}

export interface KeyPair {
  /** The certificate file as it is: the server's certificate, then any intermediates. */
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly summary: CertificateSummary;
}

/** A certificate or key that cannot be served, and which of the two files is to blame. */
export class KeyPairError extends Error {
  readonly file: keyof TlsFiles;

  constructor(file: keyof TlsFiles, message: string) {
    super(message);
    this.name = "KeyPairError";
    this.file = file;
  }
}

const READ_PROBLEMS: Readonly<Record<string, string>> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EISDIR: "is a directory",
};

async function readPem(file: keyof TlsFiles, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "";
    throw new KeyPairError(file, `cannot read ${path}: ${READ_PROBLEMS[code] ?? (error as Error).message}`);
  }
}

function timestamp(text: string): string {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toISOString();
}

export function summarize(certificate: X509Certificate): CertificateSummary {
  return {
    // One attribute per line in Node's rendering; one line reads better in a log.
    subject: certificate.subject.split("\n").join(", "),
    names: certificate.subjectAltName?.split(", ") ?? [],
    issuer: certificate.issuer.split("\n").join(", "),
    serial: certificate.serialNumber,
    notBefore: timestamp(certificate.validFrom),
    notAfter: timestamp(certificate.validTo),
    sha256: certificate.fingerprint256,
  };
}

/**
 * Reads and checks a certificate and its private key: both PEM, the key unencrypted (nobody
 * could type a passphrase at a reload) and matching the certificate, so a mistake is reported
 * here, against the file at fault, instead of as a failed handshake later.
 */
export async function readKeyPair(files: TlsFiles): Promise<KeyPair> {
  const [cert, key] = await Promise.all([readPem("cert", files.cert), readPem("key", files.key)]);
  let certificate: X509Certificate;
  try {
    if (!cert.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM certificate");
    certificate = new X509Certificate(cert);
  } catch {
    throw new KeyPairError("cert", `${files.cert} holds no PEM certificate`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new KeyPairError("key", `${files.key} holds no unencrypted PEM private key`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new KeyPairError("key", `${files.key} is not the key of the certificate in ${files.cert}`);
  }
  try {
    // What the server will build from the pair: catches whatever the checks above let through.
    createSecureContext({ cert, key });
  } catch (error) {
    throw new KeyPairError("cert", `${files.cert} cannot be served: ${(error as Error).message}`);
  }
  return { cert, key, summary: summarize(certificate) };
}

/** Whether a client reaching wharf as `host` (a name, an IP address, `[v6]`) accepts the certificate. */
export function certificateNames(certificate: X509Certificate, host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  return (isIP(bare) ? certificate.checkIP(bare) : certificate.checkHost(bare)) !== undefined;
}
