import fs from "node:fs";
import path from "node:path";
import { freePort } from "../test/harness/system/ports.js";
import { spawnDaemon, waitHttp } from "../test/harness/system/proc.js";
import { makeTempDir, removeTempDir } from "../test/harness/system/tmp.js";

export interface Nginx {
  readonly url: string;
  close(): Promise<void>;
}

function config(dir: string, port: number, storageRoot: string): string {
  const blobs = path.join(storageRoot, "docker/registry/v2/blobs/sha256");
  // Every path nginx would otherwise take from its compiled-in prefix (/var/lib/nginx, /run) is
  // redirected into dir, so it needs no system state and leaves none.
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((kind) => `  ${kind}_temp_path ${dir}/${kind};`)
    .join("\n");
  return `daemon off;
master_process on;
worker_processes auto;
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
${temp}
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

/**
 * nginx serving the upstream's blob files straight from disk with sendfile: the ceiling for warm
 * blob throughput. Runs in the foreground as a child, with its config, pid file and temp paths
 * in a temp dir.
 */
export async function startNginx(storageRoot: string): Promise<Nginx> {
  const dir = makeTempDir("bench-nginx");
  const port = await freePort();
  const conf = path.join(dir, "nginx.conf");
  fs.writeFileSync(conf, config(dir, port, storageRoot));
  const daemon = spawnDaemon({
    name: "nginx",
    command: "nginx",
    // -e: the error log before the config is read would otherwise be /var/log/nginx/error.log
    args: ["-p", dir, "-c", conf, "-e", path.join(dir, "error.log")],
    logDir: dir,
    env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/`, 10_000, daemon);
  return {
    url,
    async close() {
      await daemon.stop();
      await removeTempDir(dir);
    },
  };
}
