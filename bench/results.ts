// The shape of the JSON a run writes (--out) and the report prints from. Seconds are wall clock,
// MB is 1e6 bytes (memory too), MiB 2^20 bytes.
import type { FirstTouchCost } from "./memory.js";
import type { WrkRun } from "./wrk.js";

/**
 * What serves a pull or a blob: the two proxies, the upstream itself, nginx serving the upstream's
 * files (the ceiling) and nginx's proxy_cache (a cache that only stores bytes).
 */
export type ServerName = "wharf" | "registry" | "direct" | "nginx" | "nginx-cache";

export const SERVER_LABELS: Record<ServerName, string> = {
  wharf: "wharf",
  registry: "docker-registry proxy",
  direct: "direct from upstream",
  nginx: "nginx sendfile",
  "nginx-cache": "nginx proxy_cache",
};

/** What a pull goes through, cold and warm, beside the direct pull. */
export const PULL_PROXIES = ["wharf", "registry", "nginx-cache"] as const;
export type PullProxy = (typeof PULL_PROXIES)[number];

/** Requests the upstream saw during one step, from its access log and its token server. */
export interface UpstreamCounts {
  blobGet: number;
  blobHead: number;
  manifestGet: number;
  manifestHead: number;
  tokens: number;
  /** Requests answered 401 (a challenge before a token), included in the counts above. */
  unauthorized: number;
  other: number;
}

export interface PullRound {
  /** The skopeo process alone, excluding set-up and verification. */
  seconds: number;
  ok: boolean;
  error?: string;
  upstream: UpstreamCounts;
  cpuMs: CpuSpent;
}

/**
 * CPU milliseconds a pull cost: the clients (skopeo hashes and writes every byte), the serving
 * proxy (null for a direct pull) and the upstream, the last two from the pull's start until the
 * upstream went quiet (fetching ahead included). On a machine of few cores their sum over the
 * cores is a floor under the wall time, whoever serves.
 */
export interface CpuSpent {
  client: number;
  server: number | null;
  upstream: number | null;
}

export interface PullSeries {
  rounds: PullRound[];
  /** Fastest successful round; null when none succeeded. */
  bestSeconds: number | null;
}

export interface ImageInfo {
  name: string;
  repo: string;
  layers: number;
  layerBytes: number;
  totalBytes: number;
  digest: string;
}

export interface ImagePulls extends Record<PullProxy, { cold: PullSeries; warm: PullSeries }> {
  image: ImageInfo;
  direct: PullSeries;
  ratios: {
    wharfColdVsDirect: number | null;
    wharfWarmVsDirect: number | null;
    wharfColdVsRegistry: number | null;
    wharfWarmVsRegistry: number | null;
    registryColdVsDirect: number | null;
    nginxCacheColdVsDirect: number | null;
  };
}

export interface LoadRun {
  requests: number;
  parallel: number;
  seconds: number;
  bytes: number;
  mbPerSecond: number;
  /** Every response was 200 with the blob's full length. */
  allOk: boolean;
}

export interface LoadSeries {
  rounds: LoadRun[];
  /** Best round with allOk; null when none. */
  bestMBps: number | null;
}

export type BlobServer = "wharf" | "registry" | "nginx";

export interface ThroughputResult {
  client: string;
  blob: { digest: string; size: number };
  /** One GET per server hashed against the digest before the timed rounds. */
  digestOk: Record<BlobServer, boolean>;
  servers: Record<BlobServer, { sequential: LoadSeries; parallel8: LoadSeries }>;
  ratiosToNginx: Record<"wharf" | "registry", { sequential: number | null; parallel8: number | null }>;
  /** Requests the proxies made upstream while serving the timed rounds: should be none. */
  upstreamDuring: UpstreamCounts;
}

export interface Memory {
  /** VmHWM right after the (re)start, before any pull. */
  idleHwmMB: number;
  /** VmHWM after the pulls: the peak over the process's life. */
  peakHwmMB: number;
  /** VmRSS when the pulls had finished. */
  rssAfterMB: number;
}

export interface ConcurrentRun {
  server: ServerName;
  clients: number;
  /** From starting the first client to the last one exiting. */
  wallSeconds: number;
  clientSeconds: number[];
  allOk: boolean;
  failures: string[];
  /** Upstream GETs answered < 400 per blob of the image (config first), i.e. the blob downloads. */
  blobDownloads: Array<{ digest: string; kind: "config" | "layer"; gets: number }>;
  layerDownloads: number;
  idealLayerDownloads: number;
  upstream: UpstreamCounts;
  cpuMs: CpuSpent;
  /** For the proxies: the serving process's /proc status. */
  memory?: Memory;
}

export interface ConcurrentResult {
  image: ImageInfo;
  /** Each server's best round (the one the report shows). */
  runs: ConcurrentRun[];
  /** Every round of every server, in the order they ran. */
  rounds: ConcurrentRun[];
}

/** Warm pulls with usage recorded and without: what the batching costs. */
export interface UsageResult {
  image: ImageInfo;
  pullsPerRound: number;
  parallel: number;
  secondsOn: number[];
  secondsOff: number[];
  msPerPullOn: number;
  msPerPullOff: number;
  /** The median round with usage against the median without; the bar is 5. */
  slowdownPercent: number;
}

/** 10,000 cached images evicted at start-up while clients pull a pinned warm image. */
export interface EvictionResult {
  images: number;
  /** From the first log line of the eviction to its last. */
  seconds: number;
  evictionMs: number;
  /** Warm pulls that completed meanwhile, and how long each took. */
  pullsDuring: number;
  pullMsP50: number | null;
  pullMsP99: number | null;
  pullMsMax: number | null;
  failedPulls: number;
}

/** One wrk run, as bench/wrk.ts reads wrk's report. */
export type { WrkRun } from "./wrk.js";

export interface ManifestLoad {
  server: "wharf" | "registry";
  by: "tag" | "digest";
  runs: WrkRun[];
  /** The round with the most requests a second and no errors; null when every round had errors. */
  best: WrkRun | null;
}

/** Warm manifest GETs under wrk, authentication on for wharf. */
export interface ManifestsResult {
  threads: number;
  connections: number;
  seconds: number;
  loads: ManifestLoad[];
}

export interface FirstByteMeasure {
  ms: number;
  status: number;
  /** The bytes were exactly the blob's for the range. */
  exact: boolean;
}

export interface RangedRound {
  direct: FirstByteMeasure;
  /** The range on an empty cache, after a HEAD of the blob (which gets the proxy its upstream token). */
  wharf: FirstByteMeasure;
  /** The manifest first, its layers then fetched ahead, then the range. */
  wharfAfterManifest: FirstByteMeasure;
  registry: FirstByteMeasure;
}

/** The first byte of a cold ranged GET far into a large blob, against the upstream's. */
export interface RangedResult {
  blob: { digest: string; size: number };
  range: { start: number; end: number };
  rounds: RangedRound[];
  /** Best of the rounds answered 206 with the right bytes; null when none was. */
  bestMs: {
    direct: number | null;
    wharf: number | null;
    wharfAfterManifest: number | null;
    registry: number | null;
  };
}

/** 100 concurrent cold GETs of one big blob. */
export interface FanoutResult {
  clients: number;
  blob: { digest: string; size: number };
  wallSeconds: number;
  allOk: boolean;
  upstreamGets: number;
  idleHwmMB: number | null;
  peakHwmMB: number | null;
}

/** What one metadata scale costs: generated rows, then wharf started on them and measured. */
export interface ScalePoint {
  blobs: number;
  manifests: number;
  tags: number;
  names: number;
  generateSeconds: number;
  /** From spawning `wharf serve` to its first answer. */
  startSeconds: number;
  /** The first manifest GET after the start: what a scan at start-up would delay. */
  firstGetMs: number;
  /** The start's background read of every image for the dashboard (requests served meanwhile). */
  catalogReadSeconds: number;
  manifestByTag: WrkRun;
  tagsPage: WrkRun;
  catalogPage: WrkRun;
  gcSeconds: number;
  evictionPlanSeconds: number;
}

/** The requests measured at every scale, whose cost must stay flat. */
export type ScaledRequest = "manifestByTag" | "tagsPage" | "catalogPage";

export interface ScaleResult {
  points: ScalePoint[];
  /** The empty store's req/s over the largest scale's, per request kind: the bar is 1.2. */
  slowdowns: Record<ScaledRequest, number | null>;
}

export interface Environment {
  date: string;
  machine: {
    cores: number;
    cpuModel: string;
    memGiB: number;
    kernel: string;
    /** 1-minute load average before and after the run: other work on the machine skews every figure. */
    loadAverage: { start: number; end: number };
    firstTouch: FirstTouchCost;
  };
  versions: { node: string; dockerRegistry: string; skopeo: string; nginx: string; wharf: string };
}

export interface BenchResult {
  environment: Environment;
  options: {
    layerMb: number;
    rounds: number;
    scenarios: string[];
    bigGb: number;
    client: string;
    /** Round trip added between everyone and the upstream (0: all on loopback). */
    upstreamRttMs: number;
  };
  pulls?: ImagePulls[];
  throughput?: ThroughputResult;
  concurrent?: ConcurrentResult;
  big?: ConcurrentResult;
  usage?: UsageResult;
  eviction?: EvictionResult;
  manifests?: ManifestsResult;
  ranged?: RangedResult;
  fanout?: FanoutResult;
  scale?: ScaleResult;
  /** Scenario name -> error message, for scenarios that failed as a whole. */
  errors: Record<string, string>;
  notes: string[];
  totalSeconds: number;
}
