import type { BenchContext } from "../context.js";
import { CLIENT_DESCRIPTIONS, fetchDigest, load } from "../http-load.js";
import { startNginx } from "../nginx.js";
import type { BlobServer, LoadRun, LoadSeries, ThroughputResult } from "../results.js";
import { maxOf, ratio } from "../stats.js";
import { countSince, markUpstream, settleUpstream } from "../upstream-counts.js";

const REQUESTS = 20;
const PARALLEL = 8;

function series(rounds: LoadRun[]): LoadSeries {
  return { rounds, bestMBps: maxOf(rounds.filter((r) => r.allOk).map((r) => r.mbPerSecond)) };
}

/**
 * Warm blob throughput: REQUESTS GETs of the image's largest blob, one at a time and PARALLEL at a
 * time, from wharf, docker-registry and nginx reading the upstream's blob file with sendfile.
 * Servers take turns within each round; the best round counts (this 2-core machine is noisy).
 */
export async function runThroughput(ctx: BenchContext): Promise<ThroughputResult> {
  const blob = [...ctx.big.image.blobs].sort((a, b) => b.size - a.size)[0];
  if (!blob) throw new Error("the big image has no blobs");
  const nginx = await startNginx(ctx.upstream.dataDir);
  try {
    const path = `/v2/${ctx.big.repo}/blobs/${blob.digest}`;
    const urls: Record<BlobServer, string> = {
      wharf: ctx.wharf.url + path,
      registry: ctx.registry.url + path,
      nginx: nginx.url + path,
    };
    const servers: BlobServer[] = ["wharf", "registry", "nginx"];
    // one after the other: this also fills a proxy's cache when the pulls did not run before
    const digestOk: Record<BlobServer, boolean> = { wharf: false, registry: false, nginx: false };
    for (const s of servers) digestOk[s] = (await fetchDigest(urls[s])) === blob.digest;
    await settleUpstream(ctx.upstream);
    const mark = markUpstream(ctx.upstream);
    const runs: Record<BlobServer, { sequential: LoadRun[]; parallel8: LoadRun[] }> = {
      wharf: { sequential: [], parallel8: [] },
      registry: { sequential: [], parallel8: [] },
      nginx: { sequential: [], parallel8: [] },
    };
    for (let r = 1; r <= ctx.rounds; r++) {
      for (const [kind, parallel] of [
        ["sequential", 1],
        ["parallel8", PARALLEL],
      ] as const) {
        for (const s of servers) {
          const run = await load(ctx.client, urls[s], REQUESTS, parallel, blob.size);
          runs[s][kind].push(run);
          ctx.log(
            `throughput round ${r} ${kind} ${s}: ${run.mbPerSecond} MB/s${run.allOk ? "" : " (BAD RESPONSES)"}`,
          );
        }
      }
    }
    const upstreamDuring = (await countSince(ctx.upstream, mark)).counts;
    const both = (s: BlobServer) => ({
      sequential: series(runs[s].sequential),
      parallel8: series(runs[s].parallel8),
    });
    const result = { wharf: both("wharf"), registry: both("registry"), nginx: both("nginx") };
    const toNginx = (s: "wharf" | "registry") => ({
      sequential: ratio(result[s].sequential.bestMBps, result.nginx.sequential.bestMBps),
      parallel8: ratio(result[s].parallel8.bestMBps, result.nginx.parallel8.bestMBps),
    });
    return {
      client: CLIENT_DESCRIPTIONS[ctx.client],
      blob: { digest: blob.digest, size: blob.size },
      digestOk,
      servers: result,
      ratiosToNginx: { wharf: toNginx("wharf"), registry: toNginx("registry") },
      upstreamDuring,
    };
  } finally {
    await nginx.close();
  }
}
