import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { selfSignedCert } from "../http/certs.js";
import { makeTempDir, removeTempDir } from "../system/tmp.js";
import { sendJson } from "./json-response.js";

export interface TokenServerOptions {
  /** username -> password; default { testuser: "testpass" }. */
  users?: Record<string, string>;
  /** Tokens for requests without credentials grant pull (Docker Hub public repos); false: nothing. */
  anonymousPull?: boolean;
  /** Seconds; default 300 like Docker Hub. */
  expiresIn?: number;
  issuer?: string;
  service?: string;
}

export interface Access {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenRequest {
  method: string;
  /** The authenticated user, null without credentials. Wrong credentials are not logged here. */
  user: string | null;
  service: string;
  scopes: string[];
  granted: Access[];
}

export interface TokenStats {
  requests: number;
  granted: number;
  anonymous: number;
  denied: number;
}

export interface TokenServer {
  readonly url: string;
  /** What a registry puts in its Bearer challenge: <url>/token. */
  readonly realm: string;
  readonly issuer: string;
  readonly service: string;
  /** The certificate a registry verifies tokens with (auth.token.rootcertbundle). */
  readonly certPath: string;
  /** libtrust key id of the signing key, sent as the JWT header kid. */
  readonly kid: string;
  stats(): TokenStats;
  /** Every issued token's request, oldest first. */
  log(): TokenRequest[];
  resetStats(): void;
  setOptions(opts: Pick<TokenServerOptions, "anonymousPull" | "expiresIn">): void;
  close(): Promise<void>;
}

function base32(bytes: Buffer): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** docker/libtrust's key id, which distribution 2.8 uses to pick the rootcertbundle key for a token. */
export function libtrustKeyId(publicKey: crypto.KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  const digest = crypto.createHash("sha256").update(der).digest().subarray(0, 30);
  return base32(digest).match(/.{4}/g)?.join(":") ?? "";
}

/** Scope strings as Docker sends them: repeated params, each possibly several space-separated scopes. */
export function parseScopes(scopes: string[]): Access[] {
  const access: Access[] = [];
  for (const scope of scopes.flatMap((s) => s.split(" ")).filter(Boolean)) {
    const parts = scope.split(":");
    if (parts.length < 3) continue;
    // repository names never hold ':', but a registry host with a port inside the name can
    const type = parts[0] ?? "";
    const actions = (parts[parts.length - 1] ?? "").split(",").filter(Boolean);
    access.push({ type, name: parts.slice(1, -1).join(":"), actions });
  }
  return access;
}

type Identity = { user: string } | "anonymous" | "denied";

function basicIdentity(header: string | undefined, users: Record<string, string>): Identity {
  if (!header?.toLowerCase().startsWith("basic ")) return "anonymous";
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return "denied";
  const user = decoded.slice(0, colon);
  return users[user] !== undefined && users[user] === decoded.slice(colon + 1) ? { user } : "denied";
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** An in-process stand-in for auth.docker.io issuing RS256 JWTs a docker-registry accepts. */
export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const users = opts.users ?? { testuser: "testpass" };
  const issuer = opts.issuer ?? "wharf-test-issuer";
  const service = opts.service ?? "wharf-test-upstream";
  let anonymousPull = opts.anonymousPull ?? true;
  let expiresIn = opts.expiresIn ?? 300;
  const dir = makeTempDir("token");
  const keys = await selfSignedCert(dir, "token-issuer");
  const privateKey = crypto.createPrivateKey(fs.readFileSync(keys.keyPath));
  const kid = libtrustKeyId(new crypto.X509Certificate(fs.readFileSync(keys.certPath)).publicKey);
  const stats: TokenStats = { requests: 0, granted: 0, anonymous: 0, denied: 0 };
  let log: TokenRequest[] = [];

  function sign(claims: object): string {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const input = `${b64({ typ: "JWT", alg: "RS256", kid })}.${b64(claims)}`;
    return `${input}.${crypto.sign("sha256", Buffer.from(input), privateKey).toString("base64url")}`;
  }

  function issue(res: http.ServerResponse, method: string, who: Identity, svc: string, scopes: string[]) {
    stats.requests++;
    if (who === "denied") {
      stats.denied++;
      sendJson(
        res,
        401,
        { details: "incorrect username or password" },
        { "www-authenticate": 'Basic realm="test"' },
      );
      return;
    }
    const requested = parseScopes(scopes);
    const granted =
      who !== "anonymous"
        ? requested
        : anonymousPull
          ? requested.map((a) => ({ ...a, actions: a.actions.filter((x) => x === "pull") }))
          : [];
    stats[who === "anonymous" ? "anonymous" : "granted"]++;
    const user = who === "anonymous" ? null : who.user;
    log.push({ method, user, service: svc, scopes, granted });
    const now = Math.floor(Date.now() / 1000);
    const token = sign({
      iss: issuer,
      sub: user ?? "",
      aud: svc || service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: crypto.randomUUID(),
      access: granted,
    });
    const issuedAt = new Date(now * 1000).toISOString();
    sendJson(res, 200, { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt });
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const url = new URL(req.url ?? "/", "http://token");
    if (url.pathname !== "/token") return sendJson(res, 404, { details: "not found" });
    if (req.method === "GET") {
      const who = basicIdentity(req.headers.authorization, users);
      return issue(res, "GET", who, url.searchParams.get("service") ?? "", url.searchParams.getAll("scope"));
    }
    if (req.method !== "POST") return sendJson(res, 405, { details: "method not allowed" });
    const form = new URLSearchParams(await readBody(req));
    if (form.get("grant_type") !== "password") return sendJson(res, 400, { error: "unsupported_grant_type" });
    const username = form.get("username") ?? "";
    const who: Identity =
      users[username] !== undefined && users[username] === form.get("password")
        ? { user: username }
        : "denied";
    return issue(res, "POST", who, form.get("service") ?? "", form.getAll("scope"));
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: Error) => sendJson(res, 500, { details: e.message }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  // like the daemons (system/proc.ts): a server nobody closed must not keep the process alive
  server.unref();
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    realm: `${url}/token`,
    issuer,
    service,
    certPath: keys.certPath,
    kid,
    stats: () => ({ ...stats }),
    log: () => [...log],
    resetStats() {
      Object.assign(stats, { requests: 0, granted: 0, anonymous: 0, denied: 0 });
      log = [];
    },
    setOptions(o) {
      if (o.anonymousPull !== undefined) anonymousPull = o.anonymousPull;
      if (o.expiresIn !== undefined) expiresIn = o.expiresIn;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await removeTempDir(dir);
    },
  };
}
