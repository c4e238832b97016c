#!/usr/bin/env node
// npm run bench [-- options]: wharf against docker-registry's proxy mode, the upstream itself and
// nginx, on the same generated images and the same token-auth upstream. See bench/README.md.
import fs from "node:fs";
import path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { pushImage } from "../test/harness/images/push.js";
import { getImage } from "../test/harness/images/test-images.js";
import { startUpstream, type Upstream } from "../test/harness/upstream/docker-registry.js";
import { type BenchContext, type BenchImage, imageInfo } from "./context.js";
import { describeEnvironment, loadAverage } from "./environment.js";
import { CLIENT_DESCRIPTIONS, type LoadClient } from "./http-load.js";
import { type LatencyRelay, startLatencyRelay } from "./latency-relay.js";
import { startNginxCacheTarget } from "./nginx.js";
import { formatReport } from "./report.js";
import type { BenchResult } from "./results.js";
import { runBig } from "./scenarios/big.js";
import { runEviction, runUsage } from "./scenarios/cache.js";
import { runConcurrent } from "./scenarios/concurrent.js";
import { runFanout } from "./scenarios/fanout.js";
import { runManifests } from "./scenarios/manifests.js";
import { runPulls } from "./scenarios/pulls.js";
import { runRanged } from "./scenarios/ranged.js";
import { runScale, SCALES } from "./scenarios/scale.js";
import { runThroughput } from "./scenarios/throughput.js";
import { MiB, round1 } from "./stats.js";
import { directTarget, type PullTarget, startRegistryTarget, startWharfTarget } from "./targets.js";

const SCENARIOS = [
  "pulls",
  "throughput",
  "concurrent",
  "manifests",
  "ranged",
  "fanout",
  "scale",
  "big",
  "usage",
  "eviction",
] as const;
type Scenario = (typeof SCENARIOS)[number];
const DEFAULT_SCENARIOS: Scenario[] = SCENARIOS.filter((s) => s !== "big");

interface Options {
  layerMb: number;
  rounds: number;
  scenarios?: Scenario[];
  bigGb?: number;
  client: LoadClient;
  wrkSeconds: number;
  fanoutGb: number;
  scaleMax: number;
  upstreamRtt: number;
  out?: string;
  keep?: boolean;
}

function positive(integer: boolean) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
      throw new InvalidArgumentError(`expected a positive ${integer ? "integer" : "number"}`);
    return n;
  };
}

function scenarioList(value: string): Scenario[] {
  const names = value.split(",").map((s) => s.trim());
  const unknown = names.filter((n) => !(SCENARIOS as readonly string[]).includes(n));
  if (unknown.length)
    throw new InvalidArgumentError(`unknown: ${unknown.join(", ")} (known: ${SCENARIOS.join(", ")})`);
  return names as Scenario[];
}

const started = performance.now();
function log(message: string): void {
  process.stderr.write(
    `[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}\n`,
  );
}

async function prepareImage(
  upstream: Upstream,
  name: "big" | "many",
  repo: string,
  layerMb: number,
  seed = 1,
): Promise<BenchImage> {
  const image = getImage(name, { seed, bigLayerBytes: Math.round(layerMb * MiB) });
  await pushImage(image, upstream, `${repo}:latest`, { timeoutMs: 10 * 60_000 });
  return { image, repo, info: imageInfo(image, repo) };
}

async function run(opts: Options): Promise<number> {
  // the harness reads this for every temp dir it makes: upstream, proxies, nginx, pulls
  if (opts.keep) process.env.WHARF_TEST_KEEP = "1";
  const bigGb = opts.bigGb ?? (opts.scenarios?.includes("big") ? 1 : 0);
  const scenarios = new Set<Scenario>(opts.scenarios ?? DEFAULT_SCENARIOS);
  if (bigGb > 0 && !opts.scenarios) scenarios.add("big");
  const result: BenchResult = {
    environment: await describeEnvironment(),
    options: {
      layerMb: opts.layerMb,
      rounds: opts.rounds,
      scenarios: [...scenarios],
      bigGb,
      client: CLIENT_DESCRIPTIONS[opts.client],
      upstreamRttMs: opts.upstreamRtt,
    },
    errors: {},
    notes: [],
    totalSeconds: 0,
  };
  log(`scenarios ${[...scenarios].join(", ")}; generating images (cached between runs)`);
  const upstream = await startUpstream({ auth: "token" });
  const targets: PullTarget[] = [];
  let relay: LatencyRelay | undefined;
  try {
    log(`upstream docker-registry with token auth at ${upstream.url}; pushing images`);
    const big = await prepareImage(upstream, "big", "library/big", opts.layerMb);
    const many = await prepareImage(upstream, "many", "library/many", opts.layerMb);
    const warmUp = [
      await prepareImage(upstream, "big", "library/warm-up-big", Math.min(8, opts.layerMb), 2),
      await prepareImage(upstream, "many", "library/warm-up-many", opts.layerMb, 2),
    ];
    // Everyone reaches the upstream through the same relay (proxies and direct pulls alike); its
    // storage, log and images stay the upstream's own.
    relay = opts.upstreamRtt > 0 ? await startLatencyRelay(upstream.port, opts.upstreamRtt) : undefined;
    const reachable: Upstream = relay
      ? {
          ...upstream,
          port: relay.port,
          host: `127.0.0.1:${relay.port}`,
          url: `http://127.0.0.1:${relay.port}`,
        }
      : upstream;
    if (relay) log(`upstream reached through a relay adding ${opts.upstreamRtt} ms of round trip`);
    const wharf = await startWharfTarget(reachable);
    targets.push(wharf);
    const registry = await startRegistryTarget(reachable);
    targets.push(registry);
    const nginxCache = await startNginxCacheTarget(reachable);
    targets.push(nginxCache);
    log(
      `wharf at ${wharf.url}, docker-registry proxy at ${registry.url}, nginx proxy_cache at ${nginxCache.url}`,
    );
    const ctx: BenchContext = {
      upstream: reachable,
      wharf,
      registry,
      nginxCache,
      direct: directTarget(reachable),
      big,
      many,
      warmUp,
      rounds: opts.rounds,
      client: opts.client,
      log,
      note: (message) => result.notes.push(message),
    };
    const attempt = async (name: Scenario, body: () => Promise<void>) => {
      if (!scenarios.has(name)) return;
      log(`scenario ${name}`);
      try {
        await body();
      } catch (error) {
        result.errors[name] = error instanceof Error ? (error.stack ?? error.message) : String(error);
        log(`scenario ${name} failed: ${result.errors[name]}`);
      }
    };
    await attempt("pulls", async () => {
      result.pulls = await runPulls(ctx);
    });
    await attempt("throughput", async () => {
      result.throughput = await runThroughput(ctx);
    });
    await attempt("concurrent", async () => {
      result.concurrent = await runConcurrent(
        ctx,
        big,
        [wharf, registry, ctx.direct],
        10 * 60_000,
        opts.rounds,
      );
    });
    await attempt("manifests", async () => {
      result.manifests = await runManifests(ctx, opts.wrkSeconds);
    });
    await attempt("ranged", async () => {
      result.ranged = await runRanged(ctx);
    });
    await attempt("fanout", async () => {
      result.fanout = await runFanout(ctx, opts.fanoutGb);
    });
    await attempt("scale", async () => {
      result.scale = await runScale(ctx, Math.max(3, Math.round(opts.wrkSeconds / 2)), opts.scaleMax);
    });
    await attempt("big", async () => {
      result.big = await runBig(ctx, bigGb);
    });
    await attempt("usage", async () => {
      result.usage = await runUsage(ctx);
    });
    await attempt("eviction", async () => {
      result.eviction = await runEviction(ctx);
    });
    if (opts.keep) {
      result.notes.push(`kept: upstream ${path.dirname(upstream.dataDir)}`);
      for (const t of targets) result.notes.push(`kept: ${t.name} ${t.dir}`);
    }
  } finally {
    for (const t of targets.reverse()) await t.close();
    await relay?.close();
    await upstream.close();
  }
  result.totalSeconds = round1((performance.now() - started) / 1000);
  result.environment.machine.loadAverage.end = loadAverage();
  process.stdout.write(formatReport(result));
  if (opts.out) {
    fs.mkdirSync(path.dirname(path.resolve(opts.out)), { recursive: true });
    fs.writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
    log(`wrote ${opts.out}`);
  }
  return Object.keys(result.errors).length > 0 ? 1 : 0;
}

const program = new Command()
  .name("npm run bench --")
  .description(
    "Measure wharf against docker-registry in proxy mode, a direct pull from the upstream and nginx " +
      "serving the blob files, on the same generated images and the same token-auth upstream.",
  )
  .addOption(
    new Option("--layer-mb <MiB>", "size of each layer of the 4-layer image")
      .argParser(positive(false))
      .default(40),
  )
  .addOption(
    new Option(
      "--rounds <n>",
      "rounds of pulls, of concurrent pulls and of throughput runs (the best counts)",
    )
      .argParser(positive(true))
      .default(3),
  )
  .addOption(
    new Option(
      "--scenarios <list>",
      `comma-separated, of ${SCENARIOS.join(", ")} (default: all but big)`,
    ).argParser(scenarioList),
  )
  .addOption(
    new Option(
      "--big-gb <GiB>",
      "also measure wharf's memory during 10 concurrent cold pulls of a 10-layer image this big",
    ).argParser(positive(false)),
  )
  .addOption(
    new Option("--client <name>", "HTTP client of the throughput runs")
      .choices(["curl", "undici"])
      .default("curl"),
  )
  .addOption(
    new Option("--wrk-seconds <s>", "how long each wrk run of the manifests scenario lasts (scale: half)")
      .argParser(positive(true))
      .default(10),
  )
  .addOption(
    new Option("--fanout-gb <GiB>", "size of the blob 100 clients GET at once from a cold cache")
      .argParser(positive(false))
      .default(1),
  )
  .addOption(
    new Option("--scale-max <blobs>", `largest metadata scale measured, of ${SCALES.join(", ")}`)
      .argParser(positive(true))
      .default(1_000_000),
  )
  .addOption(
    new Option(
      "--upstream-rtt <ms>",
      "round trip added between everyone and the upstream, as to a registry far away (default 0: all on loopback)",
    )
      .argParser((value) => (value === "0" ? 0 : positive(false)(value)))
      .default(0),
  )
  .option("--out <file>", "also write every figure as JSON")
  .option("--keep", "keep temp dirs (upstream storage, proxies' data and logs)")
  .action(async (opts: Options) => {
    process.exitCode = await run(opts);
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
