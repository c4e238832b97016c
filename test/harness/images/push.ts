import crypto from "node:crypto";
import { writeContainersFiles } from "../clients/containers-conf.js";
import { CommandError, runCommand } from "../system/proc.js";
import { makeTempDir, removeTempDir } from "../system/tmp.js";
import type { Credentials } from "../types.js";
import { expectedContent, type TestImage } from "./test-images.js";

export interface RegistryTarget {
  /** host:port */
  host: string;
  creds?: Credentials;
  /** An HTTPS registry: a directory holding ca.crt for its certificate; otherwise plain HTTP. */
  certDir?: string;
}

export interface PushOptions {
  /** Push an index with all its images (skopeo --all); otherwise only this machine's platform. */
  all?: boolean;
  timeoutMs?: number;
}

const credsArg = (flag: string, c?: Credentials) => (c ? [flag, `${c.username}:${c.password}`] : []);

interface Skopeo {
  /** skopeo ARGS with the private policy and registries.conf; `tls` gives the target's TLS flags. */
  run(args: (tls: (flag: string) => string[]) => string[]): Promise<{ stdout: string; stderr: string }>;
}

/** Runs `use` with a skopeo set up for `target` in a temp dir removed afterwards. */
async function withSkopeo<T>(target: RegistryTarget, timeoutMs: number, use: (s: Skopeo) => Promise<T>) {
  const dir = makeTempDir("push");
  try {
    const files = writeContainersFiles(dir);
    const common = ["--policy", files.policy, "--registries-conf", files.registriesConf];
    const tls = (flag: string) =>
      target.certDir ? [`--${flag}cert-dir`, target.certDir] : [`--${flag}tls-verify=false`];
    return await use({
      run: (args) => runCommand("skopeo", [...common, ...args(tls)], { env: files.env, timeoutMs }),
    });
  } finally {
    await removeTempDir(dir);
  }
}

/** `skopeo copy IMAGE docker://HOST/REPO:TAG`, the push itself; throws a CommandError when refused. */
function copy(skopeo: Skopeo, image: TestImage, target: RegistryTarget, dest: string, all?: boolean) {
  return skopeo.run((tls) => [
    ...["copy", "--quiet", "--preserve-digests", ...tls("dest-")],
    ...credsArg("--dest-creds", target.creds),
    ...(all ? ["--all"] : []),
    image.ref,
    dest,
  ]);
}

/**
 * Pushes a generated image to a registry (plain HTTP, or HTTPS with `target.certDir`) with skopeo,
 * then checks the registry serves the manifest with the generated digest (so tests can compare
 * against the image's digests).
 */
export async function pushImage(
  image: TestImage,
  target: RegistryTarget,
  repoTag: string,
  opts: PushOptions = {},
): Promise<void> {
  const dest = `docker://${target.host}/${repoTag}`;
  await withSkopeo(target, opts.timeoutMs ?? 60_000, async (skopeo) => {
    await copy(skopeo, image, target, dest, opts.all);
    const { stdout } = await skopeo.run((tls) => [
      ...["inspect", "--raw", ...tls("")],
      ...credsArg("--creds", target.creds),
      dest,
    ]);
    const served = `sha256:${crypto.createHash("sha256").update(stdout).digest("hex")}`;
    const want = expectedContent(image, { all: opts.all }).digest;
    if (served !== want)
      throw new Error(`pushed ${image.name} to ${dest}: registry serves ${served}, expected ${want}`);
  });
}

export interface PushAttempt {
  /** skopeo's exit status: 0 when the registry took the push. */
  code: number | null;
  stderr: string;
}

/**
 * The push alone, judged by skopeo's own answer (exit status and error text), for pushes that
 * must be refused: nothing read back afterwards can then fail for a reason of its own.
 */
export function attemptPush(
  image: TestImage,
  target: RegistryTarget,
  repoTag: string,
  opts: PushOptions = {},
): Promise<PushAttempt> {
  return withSkopeo(target, opts.timeoutMs ?? 60_000, async (skopeo) => {
    try {
      const { stderr } = await copy(skopeo, image, target, `docker://${target.host}/${repoTag}`, opts.all);
      return { code: 0, stderr };
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      return { code: error.code, stderr: error.stderr };
    }
  });
}
