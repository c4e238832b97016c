import path from "node:path";
import { readDirLayout } from "../images/dir-layout.js";
import type { ImageContent } from "../images/test-images.js";
import { loopbackOnly } from "../system/netguard.js";
import { runCommand } from "../system/proc.js";
import { makeTempDir, removeTempDir } from "../system/tmp.js";
import type { Credentials } from "../types.js";
import { registriesConf, writeContainersFiles } from "./containers-conf.js";

const TRANSPORT = /^(docker:\/\/|oci:|dir:|oci-archive:|docker-archive:|docker-daemon:|containers-storage:)/;

export interface SkopeoCopyOptions {
  /** registries.conf text (see dockerHubMirror()); default: no mirrors. */
  registriesConf?: string;
  /**
   * --src-tls-verify. Default false without a registriesConf (plain-HTTP 127.0.0.1 registries);
   * with one, insecure=true in the conf is the way to go (the flag would apply to docker.io too).
   */
  tlsVerify?: boolean;
  /** Source credentials; default anonymous. */
  creds?: Credentials;
  /** --src-cert-dir: a directory holding ca.crt for an HTTPS registry. */
  certDir?: string;
  /** Copy a whole index (--all). */
  all?: boolean;
  timeoutMs?: number;
}

export interface SkopeoRunResult {
  dir: string;
  stderr: string;
  /** Wall time of the skopeo process alone (no setup, no verification). */
  seconds: number;
}

export interface SkopeoCopyResult extends SkopeoRunResult {
  /** What the layout holds, every file re-hashed against its name. */
  content: ImageContent;
}

/**
 * skopeo copy REF dir:DEST_DIR under the loopback guard, without reading the result: for callers
 * that time many concurrent copies and must not hash one layout while the others still run.
 * REF without a transport is taken as docker://REF.
 */
export async function runSkopeoCopy(
  ref: string,
  destDir: string,
  opts: SkopeoCopyOptions = {},
): Promise<SkopeoRunResult> {
  const work = makeTempDir("skopeo");
  try {
    const files = writeContainersFiles(work, opts.registriesConf ?? registriesConf([]));
    const src = TRANSPORT.test(ref) ? ref : `docker://${ref}`;
    const tls = opts.tlsVerify ?? (opts.registriesConf ? undefined : false);
    const args = ["--policy", files.policy, "--registries-conf", files.registriesConf, "copy", "--quiet"];
    if (tls !== undefined) args.push(`--src-tls-verify=${tls}`);
    if (opts.creds) args.push("--src-creds", `${opts.creds.username}:${opts.creds.password}`);
    else args.push("--src-no-creds");
    if (opts.certDir) args.push("--src-cert-dir", opts.certDir);
    if (opts.all) args.push("--all");
    args.push(src, `dir:${path.resolve(destDir)}`);
    const guarded = loopbackOnly(work, "skopeo", args);
    const started = performance.now();
    const { stderr } = await runCommand(guarded.command, guarded.args, {
      env: files.env,
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
    return { dir: destDir, stderr, seconds: (performance.now() - started) / 1000 };
  } finally {
    await removeTempDir(work);
  }
}

/** runSkopeoCopy, then re-hashes every file of the layout. */
export async function skopeoCopy(
  ref: string,
  destDir: string,
  opts: SkopeoCopyOptions = {},
): Promise<SkopeoCopyResult> {
  const result = await runSkopeoCopy(ref, destDir, opts);
  return { ...result, content: readDirLayout(destDir) };
}
