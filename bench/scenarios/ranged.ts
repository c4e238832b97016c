import crypto from "node:crypto";
import { Agent, request } from "undici";
import { fetchToken } from "../../test/harness/auth/bearer.js";
import { ACCEPT_MANIFESTS } from "../../test/harness/http/requests.js";
import { layoutBytes } from "../../test/harness/images/test-images.js";
import type { BenchContext } from "../context.js";
import type { RangedResult, RangedRound } from "../results.js";
import { minOf, round3 } from "../stats.js";
import type { PullTarget } from "../targets.js";
import { coldStart } from "../warm-up.js";

/** How much each ranged GET asks for: a lazy-pulling snapshotter reads chunks of this order. */
const RANGE_BYTES = 1024 * 1024;

interface FirstByte {
  ms: number;
  status: number;
  exact: boolean;
}

/** One GET with a Range on a fresh connection: time to the first body byte, and whether the bytes were right. */
async function firstByte(url: string, headers: Record<string, string>, expected: Buffer): Promise<FirstByte> {
  const agent = new Agent({ connections: 1 });
  try {
    const started = performance.now();
    const res = await request(url, { headers, dispatcher: agent });
    let ms: number | undefined;
    const hash = crypto.createHash("sha256");
    for await (const chunk of res.body) {
      ms ??= performance.now() - started;
      hash.update(chunk as Buffer);
    }
    const want = crypto.createHash("sha256").update(expected).digest("hex");
    return {
      ms: round3(ms ?? performance.now() - started),
      status: res.statusCode,
      exact: hash.digest("hex") === want,
    };
  } finally {
    await agent.close();
  }
}

/**
 * The first byte of a cold ranged GET far into a large blob (three quarters in), against the same
 * GET sent to the upstream itself with a token already in hand. Each starts from an empty cache
 * (the proxy is reset) and a token for the upstream (a HEAD of the blob first); wharf is measured
 * twice: after that HEAD, and after the manifest instead, as a lazy-pulling snapshotter asks (the
 * manifest starts fetching the layers ahead, which on this 2-core machine competes with the range
 * for the upstream and the CPU).
 */
export async function runRanged(ctx: BenchContext): Promise<RangedResult> {
  const { repo, image } = ctx.big;
  const blob = [...image.blobs].sort((a, b) => b.size - a.size)[0];
  if (!blob) throw new Error("the big image has no blobs");
  const start = Math.floor(blob.size * 0.75);
  const end = Math.min(blob.size - 1, start + RANGE_BYTES - 1);
  const expected = layoutBytes(image, blob.digest).subarray(start, end + 1);
  const path = `/v2/${repo}/blobs/${blob.digest}`;
  const range = { range: `bytes=${start}-${end}` };
  const tokenServer = ctx.upstream.tokenServer;
  if (!tokenServer) throw new Error("the bench upstream has no token server");
  const upstreamToken = await fetchToken(tokenServer, [`repository:${repo}:pull`], ctx.upstream.creds);
  const rounds: RangedRound[] = [];
  const proxied = async (target: PullTarget, afterManifest: boolean): Promise<FirstByte> => {
    await coldStart(target, ctx.warmUp);
    // Either way the proxy gets its upstream token first, as the direct GET has one: a HEAD of
    // the blob (free, nothing downloads) or the manifest (which starts fetching the layers ahead).
    const first = afterManifest
      ? await request(`${target.url}/v2/${repo}/manifests/latest`, { headers: { accept: ACCEPT_MANIFESTS } })
      : await request(target.url + path, { method: "HEAD" });
    await first.body.dump();
    return firstByte(target.url + path, range, expected);
  };
  for (let r = 1; r <= ctx.rounds; r++) {
    const direct = await firstByte(
      ctx.upstream.url + path,
      { ...range, authorization: `Bearer ${upstreamToken}` },
      expected,
    );
    const wharf = await proxied(ctx.wharf, false);
    const wharfAfterManifest = await proxied(ctx.wharf, true);
    const registry = await proxied(ctx.registry, false);
    rounds.push({ direct, wharf, wharfAfterManifest, registry });
    ctx.log(
      `cold ranged GET at ${start}: upstream ${direct.ms} ms, wharf ${wharf.ms} ms (${wharf.status}` +
        `${wharf.exact ? ", exact" : ", WRONG BYTES"}; after the manifest ${wharfAfterManifest.ms} ms), ` +
        `docker-registry ${registry.ms} ms (${registry.status})`,
    );
  }
  const ok = (side: "direct" | "wharf" | "wharfAfterManifest" | "registry") =>
    rounds.filter((round) => round[side].exact && round[side].status === 206).map((round) => round[side].ms);
  return {
    blob: { digest: blob.digest, size: blob.size },
    range: { start, end },
    rounds,
    bestMs: {
      direct: minOf(ok("direct")),
      wharf: minOf(ok("wharf")),
      wharfAfterManifest: minOf(ok("wharfAfterManifest")),
      registry: minOf(ok("registry")),
    },
  };
}
