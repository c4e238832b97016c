import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { loopbackOnly } from "../system/netguard.js";
import { type Daemon, runCommand, spawnDaemon } from "../system/proc.js";
import { makeTempDir, removeTempDir } from "../system/tmp.js";
import type { Credentials } from "../types.js";

export interface RegistryHost {
  /** With scheme: http://127.0.0.1:PORT (the scheme decides plain HTTP vs TLS). */
  url: string;
  capabilities?: Array<"pull" | "resolve" | "push">;
  /** PEM file of the CA for an HTTPS host. */
  ca?: string;
  skipVerify?: boolean;
}

/** One certs.d/<registry>/hosts.toml: hosts are tried in order, then `server` (the fallback). */
export interface RegistryHosts {
  /** Default https://registry-1.docker.io for docker.io, https://<registry> otherwise. */
  server?: string;
  hosts: RegistryHost[];
}

export interface CtrPullOptions {
  /** registry name (docker.io, ghcr.io, 127.0.0.1:5000) -> its hosts.toml. */
  hosts?: Record<string, RegistryHosts>;
  /** registry name -> hosts.toml text written as is (e.g. what `wharf client-config` printed). */
  hostsFiles?: Record<string, string>;
  /** --plain-http, for a direct pull from a 127.0.0.1 registry without hosts.toml. */
  plainHttp?: boolean;
  creds?: Credentials;
  platform?: string;
  timeoutMs?: number;
}

export interface CtrPullResult {
  /** The image's target digest (`ctr images ls`). */
  digest: string;
  mediaType: string;
  /** Every blob in the content store, re-hashed: manifests, configs, layers. */
  content: Array<{ digest: string; size: number }>;
  stderr: string;
}

export interface Containerd {
  readonly address: string;
  readonly dir: string;
  pull(ref: string, opts?: CtrPullOptions): Promise<CtrPullResult>;
  stop(): Promise<void>;
}

/** docker.io through a mirror URL (http://127.0.0.1:PORT): with fallback to Docker Hub or without. */
export function dockerHubMirrorHosts(
  mirrorUrl: string,
  opts: { fallback?: boolean } = {},
): Record<string, RegistryHosts> {
  return {
    "docker.io": {
      server: opts.fallback === false ? mirrorUrl : "https://registry-1.docker.io",
      hosts: [{ url: mirrorUrl, capabilities: ["pull", "resolve"] }],
    },
  };
}

function hostsToml(registry: string, cfg: RegistryHosts): string {
  const server =
    cfg.server ?? (registry === "docker.io" ? "https://registry-1.docker.io" : `https://${registry}`);
  const lines = [`server = "${server}"`, ""];
  for (const h of cfg.hosts) {
    const caps = (h.capabilities ?? ["pull", "resolve"]).map((c) => `"${c}"`).join(", ");
    lines.push(`[host."${h.url}"]`, `  capabilities = [${caps}]`);
    if (h.ca) lines.push(`  ca = "${h.ca}"`);
    if (h.skipVerify) lines.push("  skip_verify = true");
    lines.push("");
  }
  return lines.join("\n");
}

function daemonConfig(dir: string, address: string): string {
  // opt's default path /opt/containerd would be created on the host
  return [
    "version = 2",
    `root = "${path.join(dir, "root")}"`,
    `state = "${path.join(dir, "state")}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    "[grpc]",
    `  address = "${address}"`,
    "[ttrpc]",
    `  address = "${address}.ttrpc"`,
    "[debug]",
    `  address = "${path.join(dir, "debug.sock")}"`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${path.join(dir, "opt")}"`,
    "",
  ].join("\n");
}

function contentStore(dir: string): Array<{ digest: string; size: number }> {
  const blobs = path.join(dir, "root", "io.containerd.content.v1.content", "blobs", "sha256");
  if (!fs.existsSync(blobs)) return [];
  return fs
    .readdirSync(blobs)
    .sort()
    .map((hex) => {
      const data = fs.readFileSync(path.join(blobs, hex));
      const digest = `sha256:${crypto.createHash("sha256").update(data).digest("hex")}`;
      if (digest !== `sha256:${hex}`) throw new Error(`containerd content ${hex} hashes to ${digest}`);
      return { digest, size: data.length };
    });
}

/** A private containerd (its own root, state and sockets in a temp dir), under the loopback guard. */
export async function startContainerd(opts: { timeoutMs?: number } = {}): Promise<Containerd> {
  const dir = makeTempDir("containerd");
  const address = path.join(dir, "containerd.sock");
  const configPath = path.join(dir, "config.toml");
  fs.writeFileSync(configPath, daemonConfig(dir, address));
  const env = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", HOME: dir };
  const guarded = loopbackOnly(dir, "containerd", ["--config", configPath]);
  const daemon: Daemon = spawnDaemon({ name: "containerd", ...guarded, logDir: dir, env });
  const ctr = (args: string[], timeoutMs = 60_000) => {
    const g = loopbackOnly(dir, "ctr", ["--address", address, ...args]);
    return runCommand(g.command, g.args, { env, timeoutMs });
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  for (;;) {
    if (!daemon.running()) throw new Error(`containerd exited during start-up\n${daemon.tail()}`);
    try {
      await runCommand("ctr", ["--address", address, "version"], { env, timeoutMs: 5000 });
      break;
    } catch (e) {
      if (Date.now() > deadline) {
        await daemon.stop();
        throw new Error(`containerd did not answer: ${(e as Error).message}\n${daemon.tail()}`);
      }
      await sleep(100);
    }
  }

  let pulls = 0;
  return {
    address,
    dir,
    async pull(ref, p = {}) {
      const args = ["images", "pull", "--snapshotter", "native"];
      if (p.hosts || p.hostsFiles) {
        const hostsDir = path.join(dir, `certs.d-${pulls++}`);
        const files = {
          ...Object.fromEntries(Object.entries(p.hosts ?? {}).map(([r, cfg]) => [r, hostsToml(r, cfg)])),
          ...p.hostsFiles,
        };
        for (const [registry, text] of Object.entries(files)) {
          fs.mkdirSync(path.join(hostsDir, registry), { recursive: true });
          fs.writeFileSync(path.join(hostsDir, registry, "hosts.toml"), text);
        }
        args.push("--hosts-dir", hostsDir);
      }
      if (p.plainHttp) args.push("--plain-http");
      if (p.creds) args.push("--user", `${p.creds.username}:${p.creds.password}`);
      if (p.platform) args.push("--platform", p.platform);
      args.push(ref);
      const { stderr } = await ctr(args, p.timeoutMs);
      const { stdout } = await ctr(["images", "ls"]);
      // REF TYPE DIGEST SIZE PLATFORMS LABELS; refs are stored fully qualified
      const row = stdout
        .split("\n")
        .slice(1)
        .map((line) => line.split(/\s+/))
        .find(([name]) => name === ref || name === qualify(ref));
      if (!row) throw new Error(`ctr images ls has no ${ref}:\n${stdout}`);
      return { digest: row[2] ?? "", mediaType: row[1] ?? "", content: contentStore(dir), stderr };
    },
    async stop() {
      await daemon.stop();
      await removeTempDir(dir);
    },
  };
}

/** docker.io/library/ prefix as containerd normalizes short names. */
function qualify(ref: string): string {
  const first = ref.split("/")[0] ?? "";
  const hasRegistry =
    ref.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  if (hasRegistry) return ref;
  return `docker.io/${ref.includes("/") ? ref : `library/${ref}`}`;
}

/** Starts a private containerd, pulls one image with ctr, stops containerd. */
export async function ctrPull(ref: string, opts: CtrPullOptions = {}): Promise<CtrPullResult> {
  const containerd = await startContainerd();
  try {
    return await containerd.pull(ref, opts);
  } finally {
    await containerd.stop();
  }
}
