import fs from "node:fs";
import path from "node:path";
import { removeAtExitIfNew } from "../system/host-paths.js";
import { loopbackOnly } from "../system/netguard.js";
import { type Daemon, runCommand, spawnDaemon, waitHttp } from "../system/proc.js";
import { makeTempDir, removeTempDir } from "../system/tmp.js";
import type { Credentials } from "../types.js";

/** Where scripts/install-test-deps.sh unpacks Debian's docker.io package. */
export const DOCKER_PKG_DIR = "/var/cache/wharf-test/docker.io";

export interface DockerBinaries {
  dockerd: string;
  docker: string;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The unpacked dockerd (or WHARF_TEST_DOCKERD) and a docker CLI (PATH first, else the package's). */
export function findDocker(): DockerBinaries {
  const dockerd = process.env.WHARF_TEST_DOCKERD ?? path.join(DOCKER_PKG_DIR, "usr/sbin/dockerd");
  if (!fs.existsSync(dockerd)) {
    throw new Error(
      `dockerd not found at ${dockerd}: run \`sudo scripts/install-test-deps.sh\` (it unpacks Debian's ` +
        "docker.io package there) or point WHARF_TEST_DOCKERD at a dockerd binary",
    );
  }
  const docker = onPath("docker") ?? path.join(DOCKER_PKG_DIR, "usr/bin/docker");
  return { dockerd, docker };
}

export interface DockerdOptions {
  /** daemon.json registry-mirrors, e.g. http://127.0.0.1:PORT (used for Docker Hub images only). */
  mirrors?: string[];
  /** host:port registries spoken to over plain HTTP (127.0.0.0/8 is insecure by default anyway). */
  insecureRegistries?: string[];
  timeoutMs?: number;
}

export interface DockerImage {
  /** Image ID: the config digest. */
  id: string;
  /** NAME@sha256:… entries. */
  repoDigests: string[];
  /** The manifest digest of the first RepoDigest. */
  digest: string;
}

export interface Dockerd {
  readonly socket: string;
  readonly dir: string;
  pull(ref: string, timeoutMs?: number): Promise<DockerImage>;
  inspect(ref: string): Promise<DockerImage>;
  /** `docker login HOST -u … --password-stdin`: the CLI keeps the credentials for later pulls and pushes. */
  login(host: string, creds: Credentials): Promise<void>;
  logout(host: string): Promise<void>;
  tag(source: string, target: string): Promise<void>;
  /** `docker push REF`; resolves with the pushed manifest's digest. */
  push(ref: string, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

function trackHostSideEffects(): void {
  // dockerd 20.10 always creates /run/docker/plugins; the containerd it starts uses /opt/containerd
  removeAtExitIfNew("/run/docker", ["/run/docker/plugins", "/run/docker"]);
  removeAtExitIfNew("/opt/containerd", ["/opt/containerd/bin", "/opt/containerd/lib", "/opt/containerd"]);
}

/**
 * A private dockerd from the unpacked Debian package: vfs storage, no iptables or bridge, all
 * state in a temp dir, under the loopback guard.
 */
export async function startDockerd(opts: DockerdOptions = {}): Promise<Dockerd> {
  const bin = findDocker();
  trackHostSideEffects();
  const dir = makeTempDir("dockerd");
  const socket = path.join(dir, "docker.sock");
  const daemonJson = path.join(dir, "daemon.json");
  fs.writeFileSync(
    daemonJson,
    JSON.stringify({
      // only accepted in the file: keeps dockerd from writing /etc/docker/key.json
      "deprecated-key-path": path.join(dir, "key.json"),
      "registry-mirrors": opts.mirrors ?? [],
      "insecure-registries": opts.insecureRegistries ?? [],
    }),
  );
  const args = ["--config-file", daemonJson, "--data-root", path.join(dir, "data")];
  args.push("--exec-root", path.join(dir, "exec"), "--pidfile", path.join(dir, "dockerd.pid"));
  args.push("-H", `unix://${socket}`, "--storage-driver", "vfs", "--iptables=false", "--ip6tables=false");
  args.push("--ip-forward=false", "--ip-masq=false", "--bridge=none", "--userland-proxy=false");
  // docker-init and docker-proxy live next to the unpacked binaries; containerd and runc come from the system
  const pkgPath = [path.dirname(bin.dockerd), path.join(path.dirname(path.dirname(bin.dockerd)), "bin")];
  const env = {
    PATH: [...pkgPath, process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"].join(":"),
    HOME: dir,
  };
  const guarded = loopbackOnly(dir, bin.dockerd, args);
  const daemon: Daemon = spawnDaemon({ name: "dockerd", ...guarded, logDir: dir, env });
  try {
    await waitHttp({ url: "http://docker/_ping", socketPath: socket }, opts.timeoutMs ?? 30_000, daemon);
  } catch (e) {
    await daemon.stop();
    throw e;
  }

  const cliEnv = { PATH: env.PATH, HOME: dir, DOCKER_CONFIG: path.join(dir, "cli") };
  const docker = (args: string[], timeoutMs = 60_000, input?: string) =>
    runCommand(bin.docker, ["-H", `unix://${socket}`, ...args], {
      env: cliEnv,
      timeoutMs,
      ...(input === undefined ? {} : { input }),
    });

  async function inspect(ref: string): Promise<DockerImage> {
    const { stdout } = await docker([
      "image",
      "inspect",
      "--format",
      "{{json .Id}} {{json .RepoDigests}}",
      ref,
    ]);
    const [idJson = '""', digestsJson = "[]"] = stdout.trim().split(" ");
    const repoDigests = JSON.parse(digestsJson) as string[];
    return { id: JSON.parse(idJson) as string, repoDigests, digest: repoDigests[0]?.split("@")[1] ?? "" };
  }

  return {
    socket,
    dir,
    async pull(ref, timeoutMs) {
      await docker(["pull", "--quiet", ref], timeoutMs);
      return inspect(ref);
    },
    inspect,
    async login(host, creds) {
      await docker(["login", host, "-u", creds.username, "--password-stdin"], 60_000, creds.password);
    },
    async logout(host) {
      await docker(["logout", host]);
    },
    async tag(source, target) {
      await docker(["tag", source, target]);
    },
    async push(ref, timeoutMs) {
      const { stdout } = await docker(["push", ref], timeoutMs);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(stdout)?.[1];
      if (!digest) throw new Error(`docker push ${ref} printed no digest:\n${stdout}`);
      return digest;
    },
    async stop() {
      await daemon.stop(20_000);
      await removeTempDir(dir);
    },
  };
}

/** Starts a private dockerd, pulls one image, stops dockerd. */
export async function dockerdPull(ref: string, opts: DockerdOptions = {}): Promise<DockerImage> {
  const dockerd = await startDockerd(opts);
  try {
    return await dockerd.pull(ref, opts.timeoutMs);
  } finally {
    await dockerd.stop();
  }
}
