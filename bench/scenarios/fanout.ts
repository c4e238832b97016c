import { execFile } from "node:child_process";
import { pushImage } from "../../test/harness/images/push.js";
import { getImage } from "../../test/harness/images/test-images.js";
import { processMemory } from "../../test/harness/system/proc-status.js";
import type { BenchContext } from "../context.js";
import type { FanoutResult } from "../results.js";
import { MB, round1, round3 } from "../stats.js";
import { countSince, markUpstream } from "../upstream-counts.js";
import { coldStart } from "../warm-up.js";

const CLIENTS = 100;
const REPO = "library/onegig";

function curl(url: string, timeoutMs: number): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve) => {
    execFile(
      "curl",
      ["-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url],
      { timeout: timeoutMs },
      (error, stdout) => {
        const [status, bytes] = String(stdout).trim().split(" ").map(Number);
        resolve(error ? { status: 0, bytes: 0 } : { status: status ?? 0, bytes: bytes ?? 0 });
      },
    );
  });
}

/**
 * 100 clients GET one blob of `gb` GiB at once from an empty cache, discarding the bytes (one curl
 * each): how many times the upstream was asked for it (one download serves them all) and wharf's
 * peak resident memory (the bytes go page cache → socket with sendfile, never into the heap).
 */
export async function runFanout(ctx: BenchContext, gb: number): Promise<FanoutResult> {
  ctx.log(`generating a single-blob image of ${gb} GiB (cached for later runs)`);
  const image = getImage("big", { seed: 7, bigLayerBytes: Math.round(gb * 2 ** 30), bigLayerCount: 1 });
  await pushImage(image, ctx.upstream, `${REPO}:latest`, { timeoutMs: 30 * 60_000 });
  const blob = image.manifests[0]?.layers[0];
  if (!blob) throw new Error("the single-blob image has no layer");
  await coldStart(ctx.wharf, ctx.warmUp);
  const pid = ctx.wharf.pid();
  const idle = pid === undefined ? undefined : processMemory(pid);
  const mark = markUpstream(ctx.upstream);
  const url = `${ctx.wharf.url}/v2/${REPO}/blobs/${blob.digest}`;
  const started = performance.now();
  const answers = await Promise.all(Array.from({ length: CLIENTS }, () => curl(url, 30 * 60_000)));
  const wallSeconds = round3((performance.now() - started) / 1000);
  const after = pid === undefined ? undefined : processMemory(pid);
  const { downloads } = await countSince(ctx.upstream, mark);
  const result: FanoutResult = {
    clients: CLIENTS,
    blob: { digest: blob.digest, size: blob.size },
    wallSeconds,
    allOk: answers.every((a) => a.status === 200 && a.bytes === blob.size),
    upstreamGets: downloads.get(blob.digest) ?? 0,
    idleHwmMB: idle ? round1(idle.peak / MB) : null,
    peakHwmMB: after ? round1(after.peak / MB) : null,
  };
  ctx.log(
    `${CLIENTS} concurrent cold GETs of ${(blob.size / MB).toFixed(0)} MB: ${wallSeconds} s, all ok ${result.allOk}, ` +
      `upstream GETs ${result.upstreamGets}, VmHWM ${result.idleHwmMB} -> ${result.peakHwmMB} MB`,
  );
  return result;
}
