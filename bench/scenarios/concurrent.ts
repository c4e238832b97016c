import { processMemory } from "../../test/harness/system/proc-status.js";
import type { BenchContext, BenchImage } from "../context.js";
import { cpuMeter } from "../cpu.js";
import { pullConcurrently } from "../pull.js";
import type { ConcurrentResult, ConcurrentRun, Memory } from "../results.js";
import { MB, round1, round3 } from "../stats.js";
import type { PullTarget } from "../targets.js";
import { countSince, formatCounts, markUpstream } from "../upstream-counts.js";
import { coldStart } from "../warm-up.js";

const CLIENTS = 10;

async function coldConcurrent(
  ctx: BenchContext,
  target: PullTarget,
  img: BenchImage,
  timeoutMs: number,
): Promise<ConcurrentRun> {
  if (target.name === "direct") await target.reset();
  else await coldStart(target, ctx.warmUp);
  const pid = target.pid();
  const idle = pid === undefined ? undefined : processMemory(pid);
  const mark = markUpstream(ctx.upstream);
  const cpu = cpuMeter(pid, ctx.upstream.pid());
  const outcome = await pullConcurrently(target, img.repo, img.image, CLIENTS, timeoutMs);
  // VmHWM is the peak since start, so reading it afterwards covers the whole run
  const after = pid === undefined ? undefined : processMemory(pid);
  const { counts, downloads } = await countSince(ctx.upstream, mark);
  const cpuMs = cpu(outcome.clientCpuMs);
  const manifest = img.image.manifests[0];
  if (!manifest) throw new Error(`image ${img.repo} has no manifest`);
  const blobDownloads = [
    { digest: manifest.config.digest, kind: "config" as const },
    ...manifest.layers.map((l) => ({ digest: l.digest, kind: "layer" as const })),
  ].map((b) => ({ ...b, gets: downloads.get(b.digest) ?? 0 }));
  const run: ConcurrentRun = {
    server: target.name,
    clients: CLIENTS,
    wallSeconds: round3(outcome.wallSeconds),
    clientSeconds: outcome.clients.map((c) => round3(c.seconds)).sort((a, b) => a - b),
    allOk: outcome.clients.every((c) => c.ok),
    failures: [...new Set(outcome.clients.flatMap((c) => (c.error ? [c.error] : [])))].slice(0, 3),
    blobDownloads,
    layerDownloads: blobDownloads.filter((b) => b.kind === "layer").reduce((n, b) => n + b.gets, 0),
    idealLayerDownloads: manifest.layers.length,
    upstream: counts,
    cpuMs,
  };
  if (idle && after) {
    const memory: Memory = {
      idleHwmMB: round1(idle.peak / MB),
      peakHwmMB: round1(after.peak / MB),
      rssAfterMB: round1(after.rss / MB),
    };
    run.memory = memory;
  }
  ctx.log(
    `${CLIENTS} concurrent cold pulls of ${img.repo} via ${target.name}: ${run.wallSeconds} s, ` +
      `all ok ${run.allOk}, layer downloads ${blobDownloads
        .filter((b) => b.kind === "layer")
        .map((b) => b.gets)
        .join(" ")}, upstream ${formatCounts(counts)}` +
      (run.memory ? `, VmHWM ${run.memory.peakHwmMB} MB` : ""),
  );
  return run;
}

/** A server's fastest round that pulled everything, else its last: what the report shows for it. */
function bestOf(runs: ConcurrentRun[]): ConcurrentRun {
  const ok = runs.filter((run) => run.allOk);
  const pool = ok.length > 0 ? ok : runs.slice(-1);
  return pool.reduce((best, run) => (run.wallSeconds < best.wallSeconds ? run : best));
}

/**
 * CLIENTS skopeo processes pull the same image at once from a freshly wiped proxy: the wall time,
 * how often the upstream was asked for each blob (a coalescing cache asks once), and the proxy's
 * peak memory. The same pulls straight from the upstream give the wall time without a proxy. The
 * targets take turns within each of `rounds` rounds, and each one's best round counts, as in the
 * pulls: one round of ten clients on two cores swings by a third.
 */
export async function runConcurrent(
  ctx: BenchContext,
  img: BenchImage,
  targets: PullTarget[],
  timeoutMs: number,
  rounds: number,
): Promise<ConcurrentResult> {
  const all: ConcurrentRun[] = [];
  for (let r = 1; r <= rounds; r++) {
    for (const target of targets) all.push(await coldConcurrent(ctx, target, img, timeoutMs));
  }
  const runs = targets.map((target) => bestOf(all.filter((run) => run.server === target.name)));
  return { image: img.info, runs, rounds: all };
}
