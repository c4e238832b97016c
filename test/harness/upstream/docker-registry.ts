import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { htpasswdLine } from "../auth/htpasswd.js";
import { pushImage } from "../images/push.js";
import type { TestImage } from "../images/test-images.js";
import { onFreePort } from "../system/ports.js";
import { makeTempDir, removeTempDir } from "../system/tmp.js";
import type { Credentials } from "../types.js";
import { AccessLog, type AccessLogEntry, type RequestFilter } from "./access-log.js";
import { type RegistryDaemon, registryDaemon } from "./registry-daemon.js";
import { retag } from "./registry-write.js";
import { startTokenServer, type TokenServer, type TokenServerOptions } from "./token-server.js";

export type UpstreamAuth = "token" | "basic" | "none";

/** A generated image the upstream holds before anyone asks it for anything. */
export interface UpstreamImage {
  image: TestImage;
  /** Where skopeo pushes it: name:tag. */
  ref: string;
  /** More tags of the same name on the same manifest, one manifest PUT each. */
  tags?: string[];
  /** The whole index (skopeo --all), not only this machine's platform. */
  all?: boolean;
  timeoutMs?: number;
}

export interface UpstreamOptions {
  /** Default "token": Docker-Hub-style Bearer challenge pointing at a token server. */
  auth?: UpstreamAuth;
  /** Default testuser:testpass (the token server's or htpasswd's only user). */
  creds?: Credentials;
  /** Use this token server instead of starting one (which close() would then stop). */
  tokenServer?: TokenServer;
  /** Options for the token server started when none is given. */
  token?: Omit<TokenServerOptions, "users">;
  /** Pushed in this order once the registry runs. */
  images?: UpstreamImage[];
}

export interface Upstream {
  readonly url: string;
  /** 127.0.0.1:PORT, as image references want it. */
  readonly host: string;
  readonly port: number;
  readonly auth: UpstreamAuth;
  readonly creds: Credentials;
  readonly tokenServer: TokenServer | undefined;
  readonly dataDir: string;
  requests(since?: number): AccessLogEntry[];
  count(filter?: RequestFilter): number;
  mark(): number;
  clearLog(): void;
  /** Waits until the access log has been quiet for quietMs. */
  settle(quietMs?: number, timeoutMs?: number): Promise<void>;
  /** The registry process while it runs. */
  pid(): number | undefined;
  /** Stops the registry process; data, port and log survive for start(). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops everything this upstream started and removes its files. */
  close(): Promise<void>;
}

async function htpasswdFile(file: string, creds: Credentials): Promise<void> {
  fs.writeFileSync(file, `${await htpasswdLine(creds)}\n`);
}

function authSection(auth: UpstreamAuth, dir: string, token: TokenServer | undefined): object | undefined {
  if (auth === "basic")
    return { htpasswd: { realm: "wharf-test-upstream", path: path.join(dir, "htpasswd") } };
  if (auth === "token" && token) {
    return {
      token: {
        realm: token.realm,
        service: token.service,
        issuer: token.issuer,
        rootcertbundle: token.certPath,
      },
    };
  }
  return undefined;
}

function registryConfig(port: number, dataDir: string, auth: object | undefined): string {
  return YAML.stringify({
    version: "0.1",
    log: { level: "info", formatter: "text", accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: dataDir },
      cache: { blobdescriptor: "inmemory" },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: `127.0.0.1:${port}`, secret: "wharf-test-upstream-secret" },
    ...(auth ? { auth } : {}),
  });
}

/**
 * Debian's docker-registry (distribution 2.8) as a stand-in for registry-1.docker.io, with filesystem
 * storage in a fresh temp dir. Its stdout is the access log, which requests()/count() parse.
 */
export async function startUpstream(opts: UpstreamOptions = {}): Promise<Upstream> {
  const auth = opts.auth ?? "token";
  const creds = opts.creds ?? { username: "testuser", password: "testpass" };
  const dir = makeTempDir("upstream");
  const dataDir = path.join(dir, "data");
  const ownToken =
    auth === "token" && !opts.tokenServer
      ? await startTokenServer({ ...opts.token, users: { [creds.username]: creds.password } })
      : undefined;
  const tokenServer = auth === "token" ? (opts.tokenServer ?? ownToken) : undefined;
  const configPath = path.join(dir, "config.yml");
  const log = new AccessLog(path.join(dir, "registry.stdout"));
  let started: { port: number; daemon: RegistryDaemon };
  try {
    if (auth === "basic") await htpasswdFile(path.join(dir, "htpasswd"), creds);
    started = await onFreePort(async (port) => {
      fs.writeFileSync(configPath, registryConfig(port, dataDir, authSection(auth, dir, tokenServer)));
      const daemon = registryDaemon(configPath, dir, `http://127.0.0.1:${port}`);
      try {
        await daemon.start();
      } catch (error) {
        await daemon.stop();
        throw error;
      }
      return { port, daemon };
    });
  } catch (error) {
    await ownToken?.close();
    await removeTempDir(dir);
    throw error;
  }
  const { port } = started;
  const { start, stop } = started.daemon;
  const url = `http://127.0.0.1:${port}`;
  const upstream: Upstream = {
    url,
    host: `127.0.0.1:${port}`,
    port,
    auth,
    creds,
    tokenServer,
    dataDir,
    requests: (since) => log.requests(since),
    count: (filter) => log.count(filter),
    mark: () => log.mark(),
    clearLog: () => log.clear(),
    settle: (quietMs, timeoutMs) => log.settle(quietMs, timeoutMs),
    pid: started.daemon.pid,
    stop,
    start,
    async close() {
      await stop();
      await ownToken?.close();
      await removeTempDir(dir);
    },
  };
  try {
    await putImages(upstream, opts.images ?? []);
  } catch (error) {
    await upstream.close();
    throw error;
  }
  return upstream;
}

/** Pushes each image with skopeo, then adds its further tags. */
export async function putImages(upstream: Upstream, images: readonly UpstreamImage[]): Promise<void> {
  for (const { image, ref, tags = [], all, timeoutMs } of images) {
    await pushImage(image, upstream, ref, { all, timeoutMs });
    const name = ref.slice(0, ref.lastIndexOf(":"));
    for (const tag of tags) await retag(upstream, name, tag, image);
  }
}
