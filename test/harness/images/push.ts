import crypto from "node:crypto";
import { writeContainersFiles } from "../clients/containers-conf.js";
import { runCommand } from "../system/proc.js";
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
  const dir = makeTempDir("push");
  const timeoutMs = opts.timeoutMs ?? 60_000;
  try {
    const files = writeContainersFiles(dir);
    const dest = `docker://${target.host}/${repoTag}`;
    const common = ["--policy", files.policy, "--registries-conf", files.registriesConf];
    const tls = (flag: string) =>
      target.certDir ? [`--${flag}cert-dir`, target.certDir] : [`--${flag}tls-verify=false`];
    await runCommand(
      "skopeo",
      [
        ...common,
        "copy",
        "--quiet",
        "--preserve-digests",
        ...tls("dest-"),
        ...credsArg("--dest-creds", target.creds),
        ...(opts.all ? ["--all"] : []),
        image.ref,
        dest,
      ],
      { env: files.env, timeoutMs },
    );
    const { stdout } = await runCommand(
      "skopeo",
      [...common, "inspect", "--raw", ...tls(""), ...credsArg("--creds", target.creds), dest],
      { env: files.env, timeoutMs },
    );
    const served = `sha256:${crypto.createHash("sha256").update(stdout).digest("hex")}`;
    const want = expectedContent(image, { all: opts.all }).digest;
    if (served !== want)
      throw new Error(`pushed ${image.name} to ${dest}: registry serves ${served}, expected ${want}`);
  } finally {
    await removeTempDir(dir);
  }
}
