import type { BenchContext, BenchImage } from "../context.js";
import { cpuMeter } from "../cpu.js";
import { pullConcurrently } from "../pull.js";
import type { ImagePulls, PullRound, PullSeries } from "../results.js";
import { minOf, ratio, round3 } from "../stats.js";
import type { PullTarget } from "../targets.js";
import { countSince, formatCounts, markUpstream } from "../upstream-counts.js";
import { coldStart } from "../warm-up.js";

const PULL_TIMEOUT_MS = 300_000;

async function timedPull(ctx: BenchContext, target: PullTarget, img: BenchImage): Promise<PullRound> {
  const mark = markUpstream(ctx.upstream);
  const cpu = cpuMeter(target.pid(), ctx.upstream.pid());
  const outcome = await pullConcurrently(target, img.repo, img.image, 1, PULL_TIMEOUT_MS);
  // counting also waits for the upstream to go quiet, so no background fetch leaks into the next step
  const { counts } = await countSince(ctx.upstream, mark);
  const client = outcome.clients[0];
  const round: PullRound = {
    seconds: round3(client?.seconds ?? Number.NaN),
    ok: client?.ok ?? false,
    upstream: counts,
    cpuMs: cpu(outcome.clientCpuMs),
  };
  if (client?.error) round.error = client.error;
  return round;
}

function series(rounds: PullRound[]): PullSeries {
  return { rounds, bestSeconds: minOf(rounds.filter((r) => r.ok).map((r) => r.seconds)) };
}

function describe(round: PullRound): string {
  return round.ok ? `${round.seconds} s, upstream ${formatCounts(round.upstream)}` : `FAILED ${round.error}`;
}

/**
 * Cold and warm skopeo pulls of each image through wharf and docker-registry, and the same pull
 * straight from the upstream. The targets take turns within each round, so a slow patch of the
 * machine hits them all alike; cold means the proxy was wiped and restarted just before.
 */
export async function runPulls(ctx: BenchContext): Promise<ImagePulls[]> {
  const proxies = [
    ["wharf", ctx.wharf],
    ["registry", ctx.registry],
  ] as const;
  const results: ImagePulls[] = [];
  for (const img of [ctx.big, ctx.many]) {
    const direct: PullRound[] = [];
    const rounds = {
      wharf: { cold: [] as PullRound[], warm: [] as PullRound[] },
      registry: { cold: [] as PullRound[], warm: [] as PullRound[] },
    };
    for (let r = 1; r <= ctx.rounds; r++) {
      const d = await timedPull(ctx, ctx.direct, img);
      direct.push(d);
      ctx.log(`pull ${img.repo} round ${r}: direct ${describe(d)}`);
      for (const [name, target] of proxies) {
        await coldStart(target, ctx.warmUp);
        const cold = await timedPull(ctx, target, img);
        const warm = await timedPull(ctx, target, img);
        rounds[name].cold.push(cold);
        rounds[name].warm.push(warm);
        ctx.log(`pull ${img.repo} round ${r}: ${name} cold ${describe(cold)}; warm ${describe(warm)}`);
      }
    }
    const wharf = { cold: series(rounds.wharf.cold), warm: series(rounds.wharf.warm) };
    const registry = { cold: series(rounds.registry.cold), warm: series(rounds.registry.warm) };
    const best = series(direct).bestSeconds;
    results.push({
      image: img.info,
      direct: series(direct),
      wharf,
      registry,
      ratios: {
        wharfColdVsDirect: ratio(wharf.cold.bestSeconds, best),
        wharfWarmVsDirect: ratio(wharf.warm.bestSeconds, best),
        wharfColdVsRegistry: ratio(wharf.cold.bestSeconds, registry.cold.bestSeconds),
        wharfWarmVsRegistry: ratio(wharf.warm.bestSeconds, registry.warm.bestSeconds),
        registryColdVsDirect: ratio(registry.cold.bestSeconds, best),
      },
    });
  }
  return results;
}
