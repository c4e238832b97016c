import { request } from "undici";
import { fetchToken } from "../../test/harness/auth/bearer.js";
import { ACCEPT_MANIFESTS } from "../../test/harness/http/requests.js";
import type { BenchContext } from "../context.js";
import type { ManifestLoad, ManifestsResult } from "../results.js";
import { type WrkRun, wrk } from "../wrk.js";

/** The issue's load: wrk, 2 threads × 32 connections. */
const WRK = { threads: 2, connections: 32 };

async function status(url: string, headers: Record<string, string>): Promise<number> {
  const res = await request(url, { headers });
  await res.body.dump();
  return res.statusCode;
}

/**
 * Warm manifest GETs by tag and by digest under wrk, with wharf's default authentication on: the
 * client sends the registry token it got from wharf's /token, as docker does on every request,
 * so each GET is checked (a token verified once is remembered; its subject too). docker-registry's
 * proxy, which has no authentication, is measured the same way beside it. Best of the rounds.
 */
export async function runManifests(ctx: BenchContext, seconds: number): Promise<ManifestsResult> {
  const { repo, info } = ctx.big;
  const scope = `repository:${repo}:pull`;
  const token = await fetchToken({ realm: `${ctx.wharf.url}/token`, service: "wharf" }, [scope]);
  const wharfHeaders = { accept: ACCEPT_MANIFESTS, authorization: `Bearer ${token}` };
  const plainHeaders = { accept: ACCEPT_MANIFESTS };
  const targets = [
    { server: "wharf" as const, base: ctx.wharf.url, headers: wharfHeaders },
    { server: "registry" as const, base: ctx.registry.url, headers: plainHeaders },
  ];
  const loads: ManifestLoad[] = [];
  for (const target of targets) {
    for (const [by, reference] of [
      ["tag", "latest"],
      ["digest", info.digest],
    ] as const) {
      const url = `${target.base}/v2/${repo}/manifests/${reference}`;
      // warm: the first GET may go upstream, every one after is the cache's
      const first = await status(url, target.headers);
      if (first !== 200) throw new Error(`${target.server} ${by}: ${first}`);
      const runs: WrkRun[] = [];
      for (let r = 1; r <= ctx.rounds; r++) {
        const run = await wrk(url, target.headers, { ...WRK, seconds });
        runs.push(run);
        ctx.log(
          `manifest by ${by} via ${target.server}, round ${r}: ${run.requestsPerSecond} req/s, ` +
            `p99 ${run.p99Ms} ms${run.errors ? `, ${run.errors} errors` : ""}`,
        );
      }
      const good = runs.filter((run) => run.errors === 0);
      const best = good.sort((a, b) => b.requestsPerSecond - a.requestsPerSecond)[0];
      loads.push({ server: target.server, by, runs, best: best ?? null });
    }
  }
  return { threads: WRK.threads, connections: WRK.connections, seconds, loads };
}
