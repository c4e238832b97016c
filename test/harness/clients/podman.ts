import fs from "node:fs";
import path from "node:path";
import { registriesConf, writeContainersFiles } from "../containers.js";
import { removeAtExitIfNew } from "../hostpaths.js";
import { loopbackOnly } from "../netguard.js";
import { runCommand } from "../proc.js";
import { makeTempDir, removeTempDir } from "../tmp.js";
import type { Credentials } from "../types.js";

export interface PodmanPullOptions {
  /** registries.conf text (see dockerHubMirror()); default: no mirrors. */
  registriesConf?: string;
  /** --tls-verify; default: not passed (registries.conf decides), false for a direct pull is typical. */
  tlsVerify?: boolean;
  creds?: Credentials;
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

/** podman pull into private vfs storage (created and removed per call) under the loopback guard. */
export async function podmanPull(ref: string, opts: PodmanPullOptions = {}): Promise<PodmanPullResult> {
  const work = makeTempDir("podman");
  // podman 4.3 creates this whatever containers.conf says
  removeAtExitIfNew("/run/containers", ["/run/containers/networks", "/run/containers"]);
  try {
    const files = writeContainersFiles(work, opts.registriesConf ?? registriesConf([]));
    const conf = path.join(work, "containers.conf");
    fs.writeFileSync(conf, containersConf(work));
    const env = { ...files.env, CONTAINERS_CONF: conf };
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const podman = ["--root", path.join(work, "root"), "--runroot", path.join(work, "run")];
    podman.push("--storage-driver", "vfs", "--cgroup-manager", "cgroupfs");
    const pull = [...podman, "pull", "--quiet", "--signature-policy", files.policy];
    if (opts.tlsVerify !== undefined) pull.push(`--tls-verify=${opts.tlsVerify}`);
    if (opts.creds) pull.push("--creds", `${opts.creds.username}:${opts.creds.password}`);
    if (opts.certDir) pull.push("--cert-dir", opts.certDir);
    pull.push(ref);
    const guarded = loopbackOnly(work, "podman", pull);
    const { stderr } = await runCommand(guarded.command, guarded.args, { env, timeoutMs });
    const { stdout } = await runCommand(
      "podman",
      [...podman, "image", "inspect", "--format", "{{.Digest}} {{.Id}}", ref],
      { env, timeoutMs },
    );
    const [digest = "", id = ""] = stdout.trim().split(" ");
    return { digest, id, stderr };
  } finally {
    await removeTempDir(work);
  }
}
