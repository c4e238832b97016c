import fs from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { runSkopeoCopy } from "../test/harness/clients/index.js";
import { readDirLayout } from "../test/harness/images/dir-layout.js";
import { expectedContent, type TestImage } from "../test/harness/images/test-images.js";
import { reapedChildrenCpuMs } from "../test/harness/system/proc-status.js";
import { makeTempDir, removeTempDir } from "../test/harness/system/tmp.js";
import type { PullTarget } from "./targets.js";

export interface ClientOutcome {
  seconds: number;
  ok: boolean;
  error?: string;
}

export interface PullOutcome {
  wallSeconds: number;
  /** CPU milliseconds the clients took together: they share the machine's cores with the servers. */
  clientCpuMs: number;
  clients: ClientOutcome[];
}

function short(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 600 ? `…${text.slice(-600)}` : text;
}

function verify(dir: string, image: TestImage): string | undefined {
  try {
    const got = readDirLayout(dir);
    return isDeepStrictEqual(got, expectedContent(image))
      ? undefined
      : "pulled content differs from the image";
  } catch (error) {
    return short(error);
  }
}

/**
 * `clients` skopeo copies of repo:latest into dir: layouts, all started at once, each layout then
 * re-hashed against the generated image. Verification waits until every copy has finished: it
 * hashes synchronously, and would otherwise delay the exit of the copies still running (and this
 * process's token server).
 */
export async function pullConcurrently(
  target: PullTarget,
  repo: string,
  image: TestImage,
  clients: number,
  timeoutMs: number,
): Promise<PullOutcome> {
  const dirs = Array.from({ length: clients }, () => makeTempDir("bench-pull"));
  try {
    const started = performance.now();
    const cpuBefore = reapedChildrenCpuMs();
    const settled = await Promise.allSettled(
      dirs.map((dir) =>
        runSkopeoCopy(`${target.host}/${repo}:latest`, dir, { creds: target.creds, timeoutMs }),
      ),
    );
    const wallSeconds = (performance.now() - started) / 1000;
    const clientCpuMs = reapedChildrenCpuMs() - cpuBefore;
    const outcomes = settled.map((s, i): ClientOutcome => {
      if (s.status === "rejected") return { seconds: Number.NaN, ok: false, error: short(s.reason) };
      const error = verify(dirs[i] ?? "", image);
      return error === undefined
        ? { seconds: s.value.seconds, ok: true }
        : { seconds: s.value.seconds, ok: false, error };
    });
    return { wallSeconds, clientCpuMs, clients: outcomes };
  } finally {
    // even with --keep (which is for the servers' logs and storage): verified layouts are worth
    // nothing afterwards, and a run pulls gigabytes of them
    await Promise.all(
      dirs.map((dir) => removeTempDir(dir).then(() => fs.promises.rm(dir, { recursive: true, force: true }))),
    );
  }
}
