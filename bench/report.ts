import type { FirstTouchCost } from "./memory.js";
import type {
  BenchResult,
  ConcurrentResult,
  CpuSpent,
  ImageInfo,
  ImagePulls,
  LoadSeries,
  ManifestsResult,
  PullSeries,
  RangedResult,
  ScaledRequest,
  ScaleResult,
  ServerName,
  ThroughputResult,
} from "./results.js";
import { PULL_PROXIES, SERVER_LABELS } from "./results.js";
import { MB, medianOf } from "./stats.js";
import { formatCounts } from "./upstream-counts.js";

/** Left-aligned first column, right-aligned figures. */
function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

const num = (n: number | null | undefined, digits = 2) =>
  n === null || n === undefined || Number.isNaN(n) ? "-" : n.toFixed(digits);
const times = (n: number | null | undefined) => (n === null || n === undefined ? "-" : `${n.toFixed(2)}x`);
const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;

function firstTouchLine(t: FirstTouchCost): string {
  return (
    `memory:   ${t.probeMiB} MiB written into the page cache in ${t.handedBackMs} ms on memory freed a while ago, ` +
    `${t.justFreedMs} ms on memory just freed: a run's figures depend on what the step before it freed (bench/memory.ts)`
  );
}

function imageLine(i: ImageInfo): string {
  const layer = i.layerBytes >= MB ? mb(i.layerBytes) : `${(i.layerBytes / 1e3).toFixed(1)} kB`;
  return `${i.repo}: ${i.layers} layers of ${layer}, ${mb(i.totalBytes)} in all`;
}

function pullRounds(s: PullSeries): string {
  return s.rounds.map((r) => (r.ok ? r.seconds.toFixed(2) : "FAIL")).join(" ");
}

/** Counts of the first round; rounds that differ follow after a bar. */
function pullCounts(s: PullSeries): string {
  return [...new Set(s.rounds.map((r) => formatCounts(r.upstream)))].join(" | ");
}

/** The median of the rounds' CPU milliseconds for one party, e.g. "120 (110-140)". */
function cpuCell(s: PullSeries, who: keyof CpuSpent): string {
  const values = s.rounds.map((r) => r.cpuMs[who]).filter((v): v is number => typeof v === "number");
  const median = medianOf(values);
  if (median === null) return "-";
  return values.length === 1
    ? num(median, 0)
    : `${num(median, 0)} (${num(Math.min(...values), 0)}-${num(Math.max(...values), 0)})`;
}

/**
 * Seconds the pull's CPU would take with every core busy all along: no pull can be quicker. Null
 * when a process's CPU could not be read: a floor without it would look lower than it is.
 */
function coresFloor(cpu: CpuSpent, cores: number, server: ServerName): number | null {
  const proxy = server === "direct" ? 0 : cpu.server;
  if (proxy === null || cpu.upstream === null) return null;
  return (cpu.client + proxy + cpu.upstream) / 1000 / cores;
}

function floorCell(s: PullSeries, cores: number, server: ServerName): string {
  const floors = s.rounds.filter((r) => r.ok).map((r) => coresFloor(r.cpuMs, cores, server));
  const known = floors.filter((floor): floor is number => floor !== null);
  return known.length < floors.length ? "-" : num(medianOf(known));
}

function pullCpuRows(pulls: ImagePulls[], cores: number): string[][] {
  const row = (repo: string, server: ServerName, pull: string, s: PullSeries) => [
    repo,
    SERVER_LABELS[server],
    pull,
    num(s.bestSeconds),
    cpuCell(s, "client"),
    cpuCell(s, "server"),
    cpuCell(s, "upstream"),
    floorCell(s, cores, server),
  ];
  const rows: string[][] = [];
  for (const p of pulls) {
    rows.push(row(p.image.repo, "direct", "", p.direct));
    for (const name of PULL_PROXIES) {
      rows.push(row(p.image.repo, name, "cold", p[name].cold));
      rows.push(row(p.image.repo, name, "warm", p[name].warm));
    }
  }
  return rows;
}

function pullsSection(pulls: ImagePulls[], rounds: number, cores: number): string {
  const rows: string[][] = [];
  for (const p of pulls) {
    rows.push([
      p.image.repo,
      SERVER_LABELS.direct,
      num(p.direct.bestSeconds),
      pullRounds(p.direct),
      "",
      "",
      pullCounts(p.direct),
      "",
    ]);
    for (const name of PULL_PROXIES) {
      const t = p[name];
      rows.push([
        p.image.repo,
        SERVER_LABELS[name],
        num(t.cold.bestSeconds),
        pullRounds(t.cold),
        num(t.warm.bestSeconds),
        pullRounds(t.warm),
        pullCounts(t.cold),
        pullCounts(t.warm),
      ]);
    }
  }
  const ratios = pulls.map((p) => [
    p.image.repo,
    times(p.ratios.wharfColdVsDirect),
    times(p.ratios.wharfWarmVsDirect),
    times(p.ratios.wharfColdVsRegistry),
    times(p.ratios.wharfWarmVsRegistry),
    times(p.ratios.registryColdVsDirect),
    times(p.ratios.nginxCacheColdVsDirect),
  ]);
  return [
    `PULLS: seconds, best of ${rounds} rounds (all rounds listed); the direct pull is the same in both columns`,
    table(
      ["image", "server", "cold", "cold rounds", "warm", "warm rounds", "upstream cold", "upstream warm"],
      rows,
    ),
    "",
    table(
      [
        "image",
        "wharf cold/direct",
        "wharf warm/direct",
        "wharf cold/registry",
        "wharf warm/registry",
        "registry cold/direct",
        "nginx proxy_cache cold/direct",
      ],
      ratios,
    ),
    "",
    `CPU milliseconds per pull, median (range) of the rounds: the client's, and the proxy's and the upstream's until`,
    `the upstream went quiet. All three share the machine's ${cores} cores: their sum over the cores ("floor") is`,
    "the least any such pull can take, as against its wall time (best)",
    table(
      ["image", "server", "pull", "best s", "client", "proxy", "upstream", "floor s"],
      pullCpuRows(pulls, cores),
    ),
  ].join("\n");
}

function loadRounds(s: LoadSeries): string {
  return s.rounds.map((r) => (r.allOk ? r.mbPerSecond.toFixed(0) : "BAD")).join(" ");
}

function throughputSection(t: ThroughputResult, rounds: number): string {
  const rows = (["wharf", "registry", "nginx"] as const).map((s) => {
    const ratios = s === "nginx" ? undefined : t.ratiosToNginx[s];
    return [
      SERVER_LABELS[s],
      num(t.servers[s].sequential.bestMBps, 0),
      loadRounds(t.servers[s].sequential),
      num(t.servers[s].parallel8.bestMBps, 0),
      loadRounds(t.servers[s].parallel8),
      ratios ? times(ratios.sequential) : "1.00x",
      ratios ? times(ratios.parallel8) : "1.00x",
      t.digestOk[s] ? "ok" : "WRONG",
    ];
  });
  return [
    `WARM BLOB THROUGHPUT: MB/s, 20 GETs of ${t.blob.digest.slice(0, 19)}… (${mb(t.blob.size)}), best of ${rounds} rounds`,
    `client: ${t.client}`,
    table(
      ["server", "sequential", "rounds", "8 parallel", "rounds", "seq/nginx", "par8/nginx", "bytes"],
      rows,
    ),
    `upstream requests during the timed rounds: ${formatCounts(t.upstreamDuring)}`,
  ].join("\n");
}

function concurrentSection(title: string, c: ConcurrentResult, cores: number): string {
  const rows = c.runs.map((r) => {
    const secs = r.clientSeconds.filter((s) => !Number.isNaN(s));
    const layers = r.blobDownloads.filter((b) => b.kind === "layer").map((b) => b.gets);
    const perLayer =
      layers.length <= 10 ? layers.join(" ") : `${Math.min(...layers)}-${Math.max(...layers)} per layer`;
    return [
      SERVER_LABELS[r.server],
      num(r.wallSeconds),
      secs.length ? `${num(Math.min(...secs))}-${num(Math.max(...secs))}` : "-",
      r.allOk ? "yes" : "NO",
      r.server === "direct" ? `(${perLayer})` : perLayer,
      `${r.layerDownloads}/${r.idealLayerDownloads}`,
      formatCounts(r.upstream),
      r.memory ? `${num(r.memory.idleHwmMB, 0)} -> ${num(r.memory.peakHwmMB, 0)}` : "",
      cpuSeconds(r.cpuMs),
      num(coresFloor(r.cpuMs, cores, r.server)),
    ];
  });
  const failures = c.runs.flatMap((r) => r.failures.map((f) => `  ${SERVER_LABELS[r.server]}: ${f}`));
  return [
    title,
    table(
      [
        "server",
        "wall s",
        "per client s",
        "all ok",
        "upstream GETs per layer",
        "layer GETs/ideal",
        "upstream",
        "VmHWM MB idle -> peak",
        "CPU s clients/proxy/upstream",
        "floor s",
      ],
      rows,
    ),
    `floor: the CPU of all three over the machine's ${cores} cores, the least such a run can take`,
    ...(c.rounds.length > c.runs.length
      ? [`each server's best of its rounds; every round, wall s: ${roundWalls(c)}`]
      : []),
    ...(failures.length ? ["failures:", ...failures] : []),
  ].join("\n");
}

function cpuSeconds(cpu: CpuSpent): string {
  const seconds = (ms: number | null) => (ms === null ? "-" : num(ms / 1000, 1));
  return [cpu.client, cpu.server, cpu.upstream].map(seconds).join("/");
}

function roundWalls(c: ConcurrentResult): string {
  return c.runs
    .map(({ server }) => {
      const walls = c.rounds.filter((r) => r.server === server).map((r) => num(r.wallSeconds));
      return `${SERVER_LABELS[server]} ${walls.join(" ")}`;
    })
    .join("; ");
}

type Verdict = "PASS" | "FAIL" | "n/a ";

function verdict(ok: boolean | undefined): Verdict {
  return ok === undefined ? "n/a " : ok ? "PASS" : "FAIL";
}

/** Each of the issue's bars against this run's figures. */
function barsSection(r: BenchResult): string {
  const lines: string[] = [];
  const t = r.throughput;
  if (t) {
    const { sequential, parallel8 } = t.ratiosToNginx.wharf;
    const ok = sequential !== null && parallel8 !== null ? sequential >= 1 && parallel8 >= 1 : undefined;
    lines.push(
      `[${verdict(ok)}] warm blob throughput >= 1.0x nginx: sequential ${times(sequential)}, 8 parallel ${times(parallel8)}` +
        ` (docker-registry ${times(t.ratiosToNginx.registry.sequential)}, ${times(t.ratiosToNginx.registry.parallel8)})`,
    );
  }
  for (const p of r.pulls ?? []) {
    const vsReg = p.ratios.wharfColdVsRegistry;
    const vsDirect = p.ratios.wharfColdVsDirect;
    lines.push(
      `[${verdict(vsReg === null ? undefined : vsReg <= 1)}] ${p.image.repo} (${p.image.layers} layers) cold pull no slower than docker-registry: ` +
        `wharf/registry ${times(vsReg)} (${num(p.wharf.cold.bestSeconds)} s vs ${num(p.registry.cold.bestSeconds)} s)`,
    );
    lines.push(
      `[${verdict(vsDirect === null ? undefined : vsDirect <= 1.1)}] ${p.image.repo} (${p.image.layers} layers) cold pull within 1.1x of direct: ` +
        `wharf/direct ${times(vsDirect)} (${num(p.wharf.cold.bestSeconds)} s vs ${num(p.direct.bestSeconds)} s;` +
        ` docker-registry ${times(p.ratios.registryColdVsDirect)})`,
    );
  }
  for (const c of [r.concurrent, r.big]) {
    const w = c?.runs.find((x) => x.server === "wharf");
    if (!c || !w) continue;
    lines.push(
      `[${verdict(w.allOk && w.layerDownloads === w.idealLayerDownloads)}] ${w.clients} concurrent cold pulls of ${c.image.repo}: ` +
        `one upstream GET per layer: ${w.layerDownloads} for ${w.idealLayerDownloads} layers`,
    );
  }
  const big = r.big?.runs.find((x) => x.server === "wharf");
  if (big?.memory) {
    lines.push(
      `[${verdict(big.memory.peakHwmMB < 200)}] wharf RSS < 200 MB during 10 concurrent pulls of ${mb(r.big?.image.totalBytes ?? 0)}: ` +
        `VmHWM ${num(big.memory.peakHwmMB, 0)} MB`,
    );
  } else {
    const small = r.concurrent?.runs.find((x) => x.server === "wharf")?.memory;
    lines.push(
      `[n/a ] wharf RSS < 200 MB during 10 concurrent pulls of a 1 GB image: not run (--big-gb 1)` +
        (small
          ? `; with ${mb(r.concurrent?.image.totalBytes ?? 0)}: VmHWM ${num(small.peakHwmMB, 0)} MB`
          : ""),
    );
  }
  if (r.usage) {
    const u = r.usage;
    lines.push(
      `[${verdict(u.slowdownPercent <= 5)}] warm pull with usage recorded at most 5 % slower than without: ` +
        `${num(u.msPerPullOn)} ms vs ${num(u.msPerPullOff)} ms a pull of ${u.image.repo} (${u.slowdownPercent} %)`,
    );
  }
  if (r.eviction) {
    const ev = r.eviction;
    lines.push(
      `[${verdict(ev.failedPulls === 0 && ev.pullsDuring > 0)}] eviction of ${ev.images} cached images never blocks pulls: ` +
        `${num(ev.seconds)} s, ${ev.pullsDuring} warm pulls served meanwhile (p50 ${num(ev.pullMsP50)} ms, ` +
        `p99 ${num(ev.pullMsP99)} ms, max ${num(ev.pullMsMax)} ms), ${ev.failedPulls} failed`,
    );
  }
  return ["THE ISSUE'S BARS", ...lines].join("\n");
}

function cacheSection(r: BenchResult): string | undefined {
  const lines: string[] = [];
  if (r.usage) {
    const u = r.usage;
    lines.push(
      `usage:    ${u.pullsPerRound} warm pulls of ${u.image.repo}, ${u.parallel} at a time, per round (s): ` +
        `recorded ${u.secondsOn.join(", ")}; not recorded ${u.secondsOff.join(", ")}`,
    );
  }
  if (r.eviction) {
    const ev = r.eviction;
    lines.push(
      `eviction: ${ev.images} images (a 2 KiB layer and a manifest each) evicted at start-up in ${num(ev.seconds)} s ` +
        `(${ev.evictionMs} ms by the keeper's own clock); warm pulls of the pinned image meanwhile: ${ev.pullsDuring}`,
    );
  }
  return lines.length === 0 ? undefined : ["CACHE UPKEEP", ...lines].join("\n");
}

function manifestsSection(m: ManifestsResult, rounds: number): string {
  const rows = m.loads.map((l) => [
    SERVER_LABELS[l.server],
    `by ${l.by}`,
    num(l.best?.requestsPerSecond, 0),
    l.runs.map((run) => (run.errors ? "ERR" : run.requestsPerSecond.toFixed(0))).join(" "),
    num(l.best?.p50Ms),
    num(l.best?.p99Ms),
  ]);
  return [
    `WARM MANIFEST GETs: wrk ${m.threads} threads x ${m.connections} connections, ${m.seconds} s a run, best of ${rounds} (wharf with a Bearer token, authentication on)`,
    table(["server", "reference", "req/s", "rounds", "p50 ms", "p99 ms"], rows),
  ].join("\n");
}

function rangedSection(g: RangedResult): string {
  const rows = g.rounds.map((round, i) => [
    String(i + 1),
    `${num(round.direct.ms, 1)} (${round.direct.status})`,
    `${num(round.wharf.ms, 1)} (${round.wharf.status}${round.wharf.exact ? "" : ", WRONG"})`,
    `${num(round.wharfAfterManifest.ms, 1)} (${round.wharfAfterManifest.status}${round.wharfAfterManifest.exact ? "" : ", WRONG"})`,
    `${num(round.registry.ms, 1)} (${round.registry.status}${round.registry.exact ? "" : ", wrong"})`,
  ]);
  return [
    `COLD RANGED GET, first byte ms: bytes ${g.range.start}-${g.range.end} of ${g.blob.digest.slice(0, 19)}… (${mb(g.blob.size)}), each round from an empty cache after the manifest`,
    table(["round", "upstream", "wharf", "wharf after the manifest", "docker-registry proxy"], rows),
  ].join("\n");
}

function scaleSection(c: ScaleResult): string {
  const rows = c.points.map((p) => [
    String(p.blobs),
    String(p.manifests),
    num(p.generateSeconds, 1),
    num(p.startSeconds),
    num(p.firstGetMs, 1),
    num(p.catalogReadSeconds),
    `${num(p.manifestByTag.requestsPerSecond, 0)} / ${num(p.manifestByTag.p99Ms)}`,
    `${num(p.tagsPage.requestsPerSecond, 0)} / ${num(p.tagsPage.p99Ms)}`,
    `${num(p.catalogPage.requestsPerSecond, 0)} / ${num(p.catalogPage.p99Ms)}`,
    num(p.gcSeconds),
    num(p.evictionPlanSeconds),
  ]);
  return [
    "COSTS AT SCALE: metadata generated straight into wharf.db; req/s / p99 ms under wrk once the start's read of every image for the dashboard ended; gc and prune --dry-run in s",
    table(
      [
        "blobs",
        "manifests",
        "generate s",
        "start s",
        "first GET ms",
        "images read s",
        "by tag",
        "tags page",
        "catalog page",
        "gc",
        "prune",
      ],
      rows,
    ),
  ].join("\n");
}

/** The table of issue 11, with this run's figures. */
function issueSection(r: BenchResult): string {
  const rows: string[][] = [];
  const add = (figure: string, measured: string, bar: string, ok: boolean | undefined) =>
    rows.push([figure, measured, bar, verdict(ok)]);
  const pull = (repo: string) => r.pulls?.find((p) => p.image.repo === repo);
  const many = pull("library/many");
  const big = pull("library/big");
  const cold = (p: ImagePulls | undefined, bar: number, figure: string) => {
    const v = p?.ratios.wharfColdVsDirect ?? null;
    add(
      figure,
      p
        ? `${times(v)} (${num(p.wharf.cold.bestSeconds)} s vs ${num(p.direct.bestSeconds)} s;` +
            ` nginx proxy_cache ${times(p.ratios.nginxCacheColdVsDirect)})`
        : "not run",
      `<= ${bar.toFixed(1)}x`,
      v === null ? undefined : v <= bar,
    );
  };
  cold(many, 0.9, "cold pull, 40 layers, vs direct");
  cold(big, 1.0, "cold pull, 4 x 40 MB, vs direct");
  const wall = (server: string) => r.concurrent?.runs.find((run) => run.server === server);
  const cw = wall("wharf");
  const cd = wall("direct");
  const concurrentRatio = cw && cd && cw.allOk && cd.allOk ? ratioOf(cw.wallSeconds, cd.wallSeconds) : null;
  add(
    "10 concurrent cold pulls, wall vs 10 direct",
    cw && cd
      ? `${times(concurrentRatio)} (${num(cw.wallSeconds)} s vs ${num(cd.wallSeconds)} s), layer GETs ${cw.layerDownloads}/${cw.idealLayerDownloads}`
      : "not run",
    "<= 1.0x, one download",
    concurrentRatio === null
      ? undefined
      : concurrentRatio <= 1 && cw?.layerDownloads === cw?.idealLayerDownloads,
  );
  const t = r.throughput?.ratiosToNginx.wharf;
  add(
    "warm blob, sequential / 8 parallel, vs nginx",
    t ? `${times(t.sequential)} / ${times(t.parallel8)}` : "not run",
    ">= 1.0x / >= 1.0x",
    t && t.sequential !== null && t.parallel8 !== null ? t.sequential >= 1 && t.parallel8 >= 1 : undefined,
  );
  for (const by of ["tag", "digest"] as const) {
    const w = r.manifests?.loads.find((l) => l.server === "wharf" && l.by === by)?.best;
    const g = r.manifests?.loads.find((l) => l.server === "registry" && l.by === by)?.best;
    add(
      `warm manifest GET by ${by}, auth on, wrk 2x32`,
      w
        ? `${num(w.requestsPerSecond, 0)} req/s, p99 ${num(w.p99Ms)} ms (registry:v2 ${num(g?.requestsPerSecond, 0)})`
        : "not run",
      ">= 10,000 req/s, p99 < 10 ms",
      w ? w.requestsPerSecond >= 10_000 && (w.p99Ms ?? Number.POSITIVE_INFINITY) < 10 : undefined,
    );
  }
  const g = r.ranged;
  const diff =
    g && g.bestMs.wharf !== null && g.bestMs.direct !== null ? g.bestMs.wharf - g.bestMs.direct : null;
  add(
    "first byte of a cold ranged GET far into a large blob vs upstream's",
    g
      ? `wharf ${num(g.bestMs.wharf, 1)} ms vs upstream ${num(g.bestMs.direct, 1)} ms (+${num(diff, 1)} ms; after the manifest ${num(g.bestMs.wharfAfterManifest, 1)} ms)`
      : "not run",
    "<= upstream + 10 ms",
    diff === null ? undefined : diff <= 10,
  );
  const f = r.fanout;
  add(
    `${f?.clients ?? 100} concurrent cold GETs of one ${f ? mb(f.blob.size) : "1 GB"} blob: upstream GETs, peak RSS`,
    f
      ? `${f.upstreamGets}, ${num(f.peakHwmMB, 0)} MB (${num(f.wallSeconds, 1)} s, all ok ${f.allOk})`
      : "not run",
    "1, < 250 MB",
    f ? f.allOk && f.upstreamGets === 1 && (f.peakHwmMB ?? Number.POSITIVE_INFINITY) < 250 : undefined,
  );
  const c = r.scale;
  const largest = c?.points.at(-1);
  const scaled: [ScaledRequest, string][] = [
    ["manifestByTag", "manifest GET by tag"],
    ["tagsPage", "tags-list page"],
    ["catalogPage", "catalog page"],
  ];
  for (const [kind, what] of scaled) {
    const slowdown = c?.slowdowns[kind] ?? null;
    add(
      `${what} at ${largest?.blobs ?? "1M"} blobs / ${largest?.manifests ?? "100k"} manifests vs empty store`,
      c ? `${times(slowdown)} slower` : "not run",
      "<= 1.2x",
      slowdown === null ? undefined : slowdown <= 1.2,
    );
  }
  if (c) {
    const slowest = Math.max(...c.points.map((p) => p.startSeconds));
    add("start-up at every scale", `<= ${num(slowest)} s`, "< 2 s", slowest < 2);
  }
  return ["ISSUE 11: FASTER THAN PULLING DIRECT", table(["figure", "measured", "bar", "verdict"], rows)].join(
    "\n",
  );
}

function ratioOf(a: number, b: number): number | null {
  return b > 0 ? Math.round((a / b) * 1000) / 1000 : null;
}

export function formatReport(r: BenchResult): string {
  const e = r.environment;
  const images = [r.pulls?.map((p) => p.image), r.concurrent?.image, r.big?.image]
    .flat()
    .filter((i): i is ImageInfo => i !== undefined);
  const uniqueImages = [...new Map(images.map((i) => [i.repo, i])).values()];
  const sections = [
    [
      `wharf benchmark, ${e.date}, ${r.totalSeconds.toFixed(0)} s`,
      `machine:  ${e.machine.cores} cores (${e.machine.cpuModel}), ${e.machine.memGiB} GiB RAM, ${e.machine.kernel}; ` +
        `load average (1 min) ${e.machine.loadAverage.start} before, ${e.machine.loadAverage.end} after the run`,
      firstTouchLine(e.machine.firstTouch),
      `versions: node ${e.versions.node}, docker-registry ${e.versions.dockerRegistry}, skopeo ${e.versions.skopeo}, ` +
        `nginx ${e.versions.nginx}, wharf ${e.versions.wharf}`,
      ...uniqueImages.map((i) => `image:    ${imageLine(i)}`),
      "pulls:    skopeo copy docker://HOST/REPO:latest dir:DIR (skopeo's own time), every file re-hashed and compared",
      "upstream: counts are blob GET/blob HEAD/manifest GET/manifest HEAD/token requests, 401 challenges included" +
        (r.options.upstreamRttMs > 0
          ? `; reached through a relay adding ${r.options.upstreamRttMs} ms of round trip (proxies and direct pulls alike)`
          : "; on loopback"),
    ].join("\n"),
  ];
  if (r.pulls) sections.push(pullsSection(r.pulls, r.options.rounds, e.machine.cores));
  if (r.throughput) sections.push(throughputSection(r.throughput, r.options.rounds));
  if (r.concurrent)
    sections.push(
      concurrentSection(
        `10 CONCURRENT COLD PULLS of ${r.concurrent.image.repo} (upstream GETs count downloads: answers < 400)`,
        r.concurrent,
        e.machine.cores,
      ),
    );
  if (r.big)
    sections.push(
      concurrentSection(`10 CONCURRENT COLD PULLS of ${r.big.image.repo}`, r.big, e.machine.cores),
    );
  if (r.manifests) sections.push(manifestsSection(r.manifests, r.options.rounds));
  if (r.ranged) sections.push(rangedSection(r.ranged));
  if (r.scale) sections.push(scaleSection(r.scale));
  const upkeep = cacheSection(r);
  if (upkeep) sections.push(upkeep);
  sections.push(barsSection(r));
  sections.push(issueSection(r));
  const errors = Object.entries(r.errors);
  if (errors.length) sections.push(["ERRORS", ...errors.map(([k, v]) => `${k}: ${v}`)].join("\n"));
  if (r.notes.length) sections.push(["NOTES", ...r.notes].join("\n"));
  return `${sections.join("\n\n")}\n`;
}
