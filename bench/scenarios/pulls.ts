import type { BenchContext, BenchImage } from "../context.js";
import { pullConcurrently } from "../pull.js";
import type { ImagePulls, PullRound, PullSeries } from "../results.js";
import { minOf, ratio, round3 } from "../stats.js";
import type { PullTarget } from "../targets.js";
import { countSince, formatCounts, markUpstream } from "../upstream-counts.js";

const PULL_TIMEOUT_MS = 300_000;

async function timedPull(ctx: BenchContext, target: PullTarget, img: BenchImage): Promise<PullRound> {
  const mark = markUpstream(ctx.upstream);
  const outcome = await pullConcurrently(target, img.repo, img.image, 1, PULL_TIMEOUT_MS);
  // counting also waits for the upstream to go quiet, so no background fetch leaks into the next step
  const { counts } = await countSince(ctx.upstream, mark);
  const client = outcome.clients[0];
  const round: PullRound = {
    seconds: round3(client?.seconds ?? Number.NaN),
    ok: client?.ok ?? false,
    upstream: counts,
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
  const results: ImagePulls[] = [];
  for (const img of [ctx.big, ctx.many]) {
    const direct: PullRound[] = [];
    const cold = { wharf: [] as PullRound[], registry: [] as PullRound[] };
    const warm = { wharf: [] as PullRound[], registry: [] as PullRound[] };
    for (let r = 1; r <= ctx.rounds; r++) {
      const d = await timedPull(ctx, ctx.direct, img);
      direct.push(d);
      ctx.log(`pull ${img.repo} round ${r}: direct ${describe(d)}`);
      for (const target of [ctx.wharf, ctx.registry]) {
        const name = target.name === "wharf" ? "wharf" : "registry";
        await target.reset();
        const c = await timedPull(ctx, target, img);
        cold[name].push(c);
        const w = await timedPull(ctx, target, img);
        warm[name].push(w);
        ctx.log(`pull ${img.repo} round ${r}: ${name} cold ${describe(c)}; warm ${describe(w)}`);
      }
    }
    const result: ImagePulls = {
      image: img.info,
      direct: series(direct),
      wharf: { cold: series(cold.wharf), warm: series(warm.wharf) },
      registry: { cold: series(cold.registry), warm: series(warm.registry) },
      ratios: {
        wharfColdVsDirect: null,
        wharfWarmVsDirect: null,
        wharfColdVsRegistry: null,
        wharfWarmVsRegistry: null,
        registryColdVsDirect: null,
      },
    };
    const best = {
      direct: result.direct.bestSeconds,
      wharfCold: result.wharf.cold.bestSeconds,
      wharfWarm: result.wharf.warm.bestSeconds,
      registryCold: result.registry.cold.bestSeconds,
      registryWarm: result.registry.warm.bestSeconds,
    };
    result.ratios = {
      wharfColdVsDirect: ratio(best.wharfCold, best.direct),
      wharfWarmVsDirect: ratio(best.wharfWarm, best.direct),
      wharfColdVsRegistry: ratio(best.wharfCold, best.registryCold),
      wharfWarmVsRegistry: ratio(best.wharfWarm, best.registryWarm),
      registryColdVsDirect: ratio(best.registryCold, best.direct),
    };
    results.push(result);
  }
  return results;
}
