import fs from "node:fs";
import path from "node:path";
import { freePort } from "../test/harness/system/ports.js";
import { type Daemon, spawnDaemon, waitHttp } from "../test/harness/system/proc.js";
import { makeTempDir, removeTempDir } from "../test/harness/system/tmp.js";
import type { Upstream } from "../test/harness/upstream/docker-registry.js";
import type { PullTarget } from "./targets.js";

export interface Nginx {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Everything but the server block: every path nginx would otherwise take from its compiled-in
 * prefix (/var/lib/nginx, /run) is redirected into dir, so it needs no system state and leaves none.
 */
function prelude(dir: string, processes: string): string {
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((kind) => `  ${kind}_temp_path ${dir}/${kind};`)
    .join("\n");
  return `daemon off;
${processes}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
${
  // the upstream's storage is a 0700 temp dir of this user: workers must run as the same user
  process.getuid?.() === 0 ? "user root root;" : ""
}
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  types { }
  default_type application/octet-stream;
${temp}`;
}

function filesConfig(dir: string, port: number, storageRoot: string): string {
  const blobs = path.join(storageRoot, "docker/registry/v2/blobs/sha256");
  return `${prelude(dir, "master_process on;\nworker_processes auto;")}
  server {
    listen 127.0.0.1:${port};
    # /v2/<name>/blobs/sha256:<hex> -> docker-registry's storage file for that digest
    location ~ "^/v2/.+/blobs/sha256:(([0-9a-f]{2})[0-9a-f]{62})$" {
      alias ${blobs}/$2/$1/data;
    }
  }
}
`;
}

function cacheConfig(dir: string, port: number, upstream: Upstream, cacheDir: string): string {
  // One process, so /proc/<pid>/stat holds all the CPU it spends (workers' would not add up in the
  // master's); the cache manager that enforces max_size does not run then, and a bench needs none.
  return `${prelude(dir, "master_process off;")}
  proxy_cache_path ${cacheDir} levels=1:2 keys_zone=registry:10m use_temp_path=off;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass ${upstream.url};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_cache registry;
      # a manifest is asked for by media type: one entry per Accept
      proxy_cache_key $request_method$uri$http_accept;
      proxy_cache_valid 200 1h;
      # concurrent misses wait for the first instead of each going upstream
      proxy_cache_lock on;
      proxy_ignore_headers Cache-Control Expires Set-Cookie;
      # streams each response to its client while it writes the cache file
      proxy_buffering on;
    }
  }
}
`;
}

async function startDaemon(dir: string, conf: string, port: number): Promise<Daemon> {
  const daemon = spawnDaemon({
    name: "nginx",
    command: "nginx",
    // -e: the error log before the config is read would otherwise be /var/log/nginx/error.log
    args: ["-p", dir, "-c", conf, "-e", path.join(dir, "error.log")],
    logDir: dir,
    env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
  });
  await waitHttp(`http://127.0.0.1:${port}/`, 10_000, daemon);
  return daemon;
}

/**
 * nginx serving the upstream's blob files straight from disk with sendfile: the ceiling for warm
 * blob throughput. Runs in the foreground as a child, with its config, pid file and temp paths
 * in a temp dir.
 */
export async function startNginx(storageRoot: string): Promise<Nginx> {
  const dir = makeTempDir("bench-nginx");
  const port = await freePort();
  const conf = path.join(dir, "nginx.conf");
  fs.writeFileSync(conf, filesConfig(dir, port, storageRoot));
  const daemon = await startDaemon(dir, conf, port);
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      await daemon.stop();
      await removeTempDir(dir);
    },
  };
}

/**
 * nginx's proxy_cache in front of the upstream: a cache written in C that stores and serves bytes
 * and does nothing else (no digest verified, no metadata, no tag revalidated), the least any cache
 * on this machine adds to a cold pull. Clients authenticate to the upstream through it, as it
 * forwards their Authorization.
 */
export async function startNginxCacheTarget(upstream: Upstream): Promise<PullTarget> {
  const dir = makeTempDir("bench-nginx-cache");
  const cacheDir = path.join(dir, "cache");
  const port = await freePort();
  const conf = path.join(dir, "nginx.conf");
  fs.writeFileSync(conf, cacheConfig(dir, port, upstream, cacheDir));
  let daemon = await startDaemon(dir, conf, port);
  return {
    name: "nginx-cache",
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    creds: upstream.creds,
    dir,
    async reset() {
      await daemon.stop();
      await fs.promises.rm(cacheDir, { recursive: true, force: true });
      daemon = await startDaemon(dir, conf, port);
    },
    pid: () => daemon.pid,
    async close() {
      await daemon.stop();
      await removeTempDir(dir);
    },
  };
}
