import fs from "node:fs";
import path from "node:path";
import { removeAtExitIfNew } from "../system/host-paths.js";
import { loopbackOnly } from "../system/netguard.js";
import { runCommand } from "../system/proc.js";
import { makeTempDir, removeTempDir } from "../system/tmp.js";
import type { Credentials } from "../types.js";
import { registriesConf, writeContainersFiles } from "./containers-conf.js";

export interface PodmanPullOptions {
  /** registries.conf text (see dockerHubMirror()); default: no mirrors. */
  registriesConf?: string;
  /** --tls-verify; default: not passed (registries.conf decides), false for a direct pull is typical. */
  tlsVerify?: boolean;
  creds?: Credentials;
  /** `podman login` to the ref's registry first (plain HTTP); the pull then uses what it stored. */
  login?: Credentials;
  /** --cert-dir: a directory holding ca.crt for an HTTPS registry. */
  certDir?: string;
  timeoutMs?: number;
}

export interface PodmanPullResult {
  /** The manifest digest podman recorded for the image. */
  digest: string;
  /** Image ID (the config digest's hex). */
  id: string;
  stderr: string;
}

function containersConf(work: string): string {
  // keeps podman's lock/alive files, events and netavark config out of /run/libpod, /run/containers
  // and /etc/containers/networks
  return [
    "[engine]",
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `events_logfile_path = "${path.join(work, "events.log")}"`,
    `tmp_dir = "${path.join(work, "libpod-tmp")}"`,
    "[network]",
    `network_config_dir = "${path.join(work, "networks")}"`,
    "",
  ].join("\n");
}

interface PodmanSession {
  env: NodeJS.ProcessEnv;
  policy: string;
  /** Global flags that keep podman's storage and state in the session's directory. */
  global: string[];
  timeoutMs: number;
}

/** Runs `use` with a private podman (vfs storage, config, state) in a temp dir removed afterwards. */
async function withPodman<T>(
  registries: string,
  timeoutMs: number,
  use: (session: PodmanSession, work: string) => Promise<T>,
): Promise<T> {
  const work = makeTempDir("podman");
  // podman 4.3 creates this whatever containers.conf says
  removeAtExitIfNew("/run/containers", ["/run/containers/networks", "/run/containers"]);
  try {
    const files = writeContainersFiles(work, registries);
    const conf = path.join(work, "containers.conf");
    fs.writeFileSync(conf, containersConf(work));
    const global = ["--root", path.join(work, "root"), "--runroot", path.join(work, "run")];
    global.push("--storage-driver", "vfs", "--cgroup-manager", "cgroupfs");
    const env = { ...files.env, CONTAINERS_CONF: conf };
    return await use({ env, policy: files.policy, global, timeoutMs }, work);
  } finally {
    await removeTempDir(work);
  }
}

/** `podman login HOST` over plain HTTP, the password on stdin, into the session's auth file. */
async function podmanLogin(
  podman: PodmanSession,
  work: string,
  ref: string,
  creds: Credentials,
): Promise<void> {
  const host = ref.replace(/^docker:\/\//, "").split("/")[0] ?? "";
  const login = [
    ...podman.global,
    "login",
    "--tls-verify=false",
    "-u",
    creds.username,
    "--password-stdin",
    host,
  ];
  const guarded = loopbackOnly(work, "podman", login);
  await runCommand(guarded.command, guarded.args, {
    env: podman.env,
    timeoutMs: podman.timeoutMs,
    input: creds.password,
  });
}

/** podman pull into private vfs storage (created and removed per call) under the loopback guard. */
export async function podmanPull(ref: string, opts: PodmanPullOptions = {}): Promise<PodmanPullResult> {
  const registries = opts.registriesConf ?? registriesConf([]);
  return withPodman(registries, opts.timeoutMs ?? 60_000, async (podman, work) => {
    if (opts.login) await podmanLogin(podman, work, ref, opts.login);
    const pull = [...podman.global, "pull", "--quiet", "--signature-policy", podman.policy];
    if (opts.tlsVerify !== undefined) pull.push(`--tls-verify=${opts.tlsVerify}`);
    if (opts.creds) pull.push("--creds", `${opts.creds.username}:${opts.creds.password}`);
    if (opts.certDir) pull.push("--cert-dir", opts.certDir);
    pull.push(ref);
    const guarded = loopbackOnly(work, "podman", pull);
    const { stderr } = await runCommand(guarded.command, guarded.args, {
      env: podman.env,
      timeoutMs: podman.timeoutMs,
    });
    const { stdout } = await runCommand(
      "podman",
      [...podman.global, "image", "inspect", "--format", "{{.Digest}} {{.Id}}", ref],
      { env: podman.env, timeoutMs: podman.timeoutMs },
    );
    const [digest = "", id = ""] = stdout.trim().split(" ");
    return { digest, id, stderr };
  });
}

export interface PodmanPushResult {
  /** The manifest digest the registry accepted (podman --digestfile). */
  digest: string;
  /** Image ID (the config digest's hex): podman keeps the config, but recompresses layers. */
  id: string;
}

/**
 * Loads `source` (a skopeo transport reference such as oci:DIR:latest) into private podman
 * storage and `podman push`es it to `dest` (host:port/name:tag) over plain HTTP. podman stores
 * layers uncompressed and gzips them again on push, so the registry gets new layer digests:
 * compare pulls with the returned digest, not with the source image's. With `login`, `podman login`
 * to the destination comes first.
 */
export async function podmanPush(
  source: string,
  dest: string,
  opts: { timeoutMs?: number; login?: Credentials } = {},
): Promise<PodmanPushResult> {
  return withPodman(registriesConf([]), opts.timeoutMs ?? 60_000, async (podman, work) => {
    if (opts.login) await podmanLogin(podman, work, dest, opts.login);
    const run = (args: string[]) =>
      runCommand("podman", [...podman.global, ...args], { env: podman.env, timeoutMs: podman.timeoutMs });
    // a local layout: nothing to reach, so no loopback guard
    const { stdout } = await run(["pull", "--quiet", "--signature-policy", podman.policy, source]);
    const id = stdout.trim().split("\n").at(-1) ?? "";
    const digestFile = path.join(work, "pushed-digest");
    const push = [...podman.global, "push", "--quiet", "--signature-policy", podman.policy];
    push.push("--tls-verify=false", "--digestfile", digestFile, id, `docker://${dest}`);
    const guarded = loopbackOnly(work, "podman", push);
    await runCommand(guarded.command, guarded.args, { env: podman.env, timeoutMs: podman.timeoutMs });
    return { digest: fs.readFileSync(digestFile, "utf8").trim(), id };
  });
}
