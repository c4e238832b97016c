import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import tls from "node:tls";
import { runCommand } from "../system/proc.js";

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

// P-256 keys: made in milliseconds, and every client under test accepts them.
const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export interface TestCa extends KeyPair {
  /** A directory holding only ca.crt: what podman's --cert-dir and skopeo's --src-cert-dir want. */
  certDir: string;
  /** The CA certificate's PEM, for node:tls and node:https clients. */
  pem: Buffer;
}

/** A certificate authority of the test's own, made by the openssl CLI into dir/<name>. */
export async function makeTestCa(dir: string, name = "wharf-test-ca"): Promise<TestCa> {
  const certDir = path.join(dir, name);
  fs.mkdirSync(certDir, { recursive: true });
  const certPath = path.join(certDir, "ca.crt");
  const keyPath = path.join(dir, `${name}.key`);
  await runCommand(
    "openssl",
    [
      ...["req", "-x509", ...EC_KEY, "-keyout", keyPath, "-out", certPath, "-days", "30"],
      ...["-subj", `/CN=${name}`, "-addext", "basicConstraints=critical,CA:TRUE"],
      ...["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    ],
    { timeoutMs: 30_000 },
  );
  return { keyPath, certPath, certDir, pem: fs.readFileSync(certPath) };
}

export interface IssuedCert extends KeyPair {
  /** As node:tls reports it (getPeerCertificate().serialNumber): upper-case hex. */
  serial: string;
}

/**
 * A server key and a certificate for it signed by `ca`, with a fresh random serial, written to
 * dir/<name>.key and dir/<name>.crt. `sans` as openssl writes them: `IP:127.0.0.1`, `DNS:localhost`.
 */
export async function issueServerCert(
  ca: TestCa,
  dir: string,
  name: string,
  sans: string[],
): Promise<IssuedCert> {
  const keyPath = path.join(dir, `${name}.key`);
  const certPath = path.join(dir, `${name}.crt`);
  const csrPath = path.join(dir, `${name}.csr`);
  const extPath = path.join(dir, `${name}.ext`);
  fs.writeFileSync(
    extPath,
    [
      `subjectAltName=${sans.join(",")}`,
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      "",
    ].join("\n"),
  );
  await runCommand(
    "openssl",
    ["req", "-new", ...EC_KEY, "-keyout", keyPath, "-out", csrPath, "-subj", `/CN=${name}`],
    {
      timeoutMs: 30_000,
    },
  );
  await runCommand(
    "openssl",
    [
      ...["x509", "-req", "-in", csrPath, "-CA", ca.certPath, "-CAkey", ca.keyPath, "-days", "30"],
      ...["-set_serial", `0x${crypto.randomBytes(8).toString("hex")}`, "-extfile", extPath, "-out", certPath],
    ],
    { timeoutMs: 30_000 },
  );
  const serial = new crypto.X509Certificate(fs.readFileSync(certPath)).serialNumber;
  return { keyPath, certPath, serial };
}

/**
 * The certificate a TLS server presents to a new connection, verified against `ca` (rejects
 * when it does not verify, as a client without that CA would).
 */
export function servedCertificate(host: string, port: number, ca: Buffer): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, ca, timeout: 10_000 }, () => {
      const peer = socket.getPeerCertificate();
      socket.end();
      resolve(peer);
    });
    socket.on("timeout", () => socket.destroy(new Error(`no TLS handshake with ${host}:${port} in 10 s`)));
    socket.on("error", reject);
  });
}
