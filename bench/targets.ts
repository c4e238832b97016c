import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { freePort } from "../test/harness/system/ports.js";
import { makeTempDir, removeTempDir } from "../test/harness/system/tmp.js";
import type { Credentials } from "../test/harness/types.js";
import type { Upstream } from "../test/harness/upstream/docker-registry.js";
import { registryDaemon } from "../test/harness/upstream/registry-daemon.js";
import { startWharf } from "../test/harness/wharf/start.js";
import type { ServerName } from "./results.js";

/** Something skopeo pulls from: a proxy in front of the upstream, or the upstream itself. */
export interface PullTarget {
  readonly name: Exclude<ServerName, "nginx">;
  /** 127.0.0.1:PORT */
  readonly host: string;
  readonly url: string;
  /** What the client sends: the upstream wants credentials, the proxies none. */
  readonly creds: Credentials | undefined;
  /** Stops, wipes the cache, starts again: the next pull is cold. A no-op for the upstream. */
  reset(): Promise<void>;
  /** The serving process, for /proc/<pid>/status; undefined for the upstream. */
  pid(): number | undefined;
  /** Where its logs are, for a failed run's post-mortem. */
  readonly dir: string | undefined;
  close(): Promise<void>;
}

/** wharf from this checkout's build, configured the way registry:v2 users configure a proxy. */
export async function startWharfTarget(upstream: Upstream): Promise<PullTarget> {
  const wharf = await startWharf({
    env: {
      REGISTRY_PROXY_REMOTEURL: upstream.url,
      REGISTRY_PROXY_USERNAME: upstream.creds.username,
      REGISTRY_PROXY_PASSWORD: upstream.creds.password,
    },
    // authentication and fetch-ahead on, as a fresh wharf runs: the pulls are anonymous, which a proxy allows
    secured: true,
    fetchAhead: true,
  });
  return {
    name: "wharf",
    host: wharf.host,
    url: wharf.url,
    creds: undefined,
    dir: wharf.dir,
    async reset() {
      await wharf.stop();
      await fs.promises.rm(wharf.dataDir, { recursive: true, force: true });
      await wharf.restart();
    },
    pid: () => wharf.pid(),
    close: () => wharf.close(),
  };
}

function proxyConfig(port: number, dataDir: string, upstream: Upstream): string {
  // The lab's reference peer configuration (shared/lab/peer.sh), on a free port.
  return YAML.stringify({
    version: "0.1",
    log: { level: "info", formatter: "text" },
    storage: {
      filesystem: { rootdirectory: dataDir },
      cache: { blobdescriptor: "inmemory" },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: `127.0.0.1:${port}`, secret: "wharf-bench-proxy-secret" },
    proxy: {
      remoteurl: upstream.url,
      username: upstream.creds.username,
      password: upstream.creds.password,
    },
  });
}

/** Debian's docker-registry (distribution 2.8) in proxy mode: the cache wharf must beat. */
export async function startRegistryTarget(upstream: Upstream): Promise<PullTarget> {
  const dir = makeTempDir("bench-registry");
  const dataDir = path.join(dir, "data");
  const port = await freePort();
  const configPath = path.join(dir, "config.yml");
  fs.writeFileSync(configPath, proxyConfig(port, dataDir, upstream));
  const url = `http://127.0.0.1:${port}`;
  const daemon = registryDaemon(configPath, dir, url);
  const { start, stop } = daemon;

  await start();
  return {
    name: "registry",
    host: `127.0.0.1:${port}`,
    url,
    creds: undefined,
    dir,
    async reset() {
      await stop();
      await fs.promises.rm(dataDir, { recursive: true, force: true });
      await start();
    },
    pid: daemon.pid,
    async close() {
      await stop();
      await removeTempDir(dir);
    },
  };
}

/** Pulling straight from the upstream: the floor a proxy's cold pull is compared with. */
export function directTarget(upstream: Upstream): PullTarget {
  return {
    name: "direct",
    host: upstream.host,
    url: upstream.url,
    creds: upstream.creds,
    dir: undefined,
    reset: async () => {},
    pid: () => undefined,
    close: async () => {},
  };
}
