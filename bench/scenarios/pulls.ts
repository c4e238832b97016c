import type { BenchContext, BenchImage } from "../context.js";
import { cpuMeter } from "../cpu.js";
import { pullConcurrently } from "../pull.js";
import {
  type ImagePulls,
  PULL_PROXIES,
  type PullProxy,
  type PullRound,
  type PullSeries,
} from "../results.js";
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
 * Cold and warm skopeo pulls of each image through wharf, docker-registry and nginx's proxy_cache,
 * and the same pull straight from the upstream. The targets take turns within each round, so a
 * slow patch of the machine hits them all alike; cold means the proxy was wiped and restarted just
 * before.
 */
export async function runPulls(ctx: BenchContext): Promise<ImagePulls[]> {
  const targets: Record<PullProxy, PullTarget> = {
    wharf: ctx.wharf,
    registry: ctx.registry,
    "nginx-cache": ctx.nginxCache,
  };
  const results: ImagePulls[] = [];
  for (const img of [ctx.big, ctx.many]) {
    const direct: PullRound[] = [];
    const none = () => ({ cold: [] as PullRound[], warm: [] as PullRound[] });
    const rounds: Record<PullProxy, { cold: PullRound[]; warm: PullRound[] }> = {
      wharf: none(),
      registry: none(),
      "nginx-cache": none(),
    };
    for (let r = 1; r <= ctx.rounds; r++) {
      const d = await timedPull(ctx, ctx.direct, img);
      direct.push(d);
      ctx.log(`pull ${img.repo} round ${r}: direct ${describe(d)}`);
      for (const name of PULL_PROXIES) {
        const target = targets[name];
        await coldStart(target, ctx.warmUp);
        const cold = await timedPull(ctx, target, img);
        const warm = await timedPull(ctx, target, img);
        rounds[name].cold.push(cold);
        rounds[name].warm.push(warm);
        ctx.log(`pull ${img.repo} round ${r}: ${name} cold ${describe(cold)}; warm ${describe(warm)}`);
      }
    }
    const served = (name: PullProxy) => ({
      cold: series(rounds[name].cold),
      warm: series(rounds[name].warm),
    });
    const wharf = served("wharf");
    const registry = served("registry");
    const nginxCache = served("nginx-cache");
    const best = series(direct).bestSeconds;
    results.push({
      image: img.info,
      direct: series(direct),
      wharf,
      registry,
      "nginx-cache": nginxCache,
      ratios: {
        wharfColdVsDirect: ratio(wharf.cold.bestSeconds, best),
        wharfWarmVsDirect: ratio(wharf.warm.bestSeconds, best),
        wharfColdVsRegistry: ratio(wharf.cold.bestSeconds, registry.cold.bestSeconds),
        wharfWarmVsRegistry: ratio(wharf.warm.bestSeconds, registry.warm.bestSeconds),
        registryColdVsDirect: ratio(registry.cold.bestSeconds, best),
        nginxCacheColdVsDirect: ratio(nginxCache.cold.bestSeconds, best),
      },
    });
  }
  return results;
}
