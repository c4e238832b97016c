import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { RateLimitSnapshot } from "../coordination/upstream-state.js";
import type { DownloadObserver } from "../store/coalescer.js";
import type { UploadObserver } from "../store/staged-upload-sessions.js";
import type { UpstreamExchange } from "../upstream/client.js";
import type { StoreSnapshot } from "./cache-keeper.js";
import type { CarriedOut } from "./eviction.js";
import type { SyncRun } from "./sync.js";

/** What the metrics read when scraped: the running downloads, the store as last measured, the bounds. */
export interface MetricSources {
  inflight(): number;
  waiters(): number;
  store(): StoreSnapshot | undefined;
  readonly caps: {
    readonly total?: number;
    readonly minFree?: number;
    readonly repositories: ReadonlyMap<string, number>;
  };
}

/** One finished request, as the HTTP layer saw it. */
export interface RequestFacts {
  readonly route: string;
  readonly method: string;
  readonly status: number;
  /** The repository the request was routed to ("" for none: `/v2/`, the catalog). */
  readonly repository: string;
  /** The repository whose content answered (a group's member); the routed one when it answered itself. */
  readonly servedBy: string;
  readonly cache: string | undefined;
  /** Body bytes of a response that finished; 0 for one cut short. */
  readonly bytes: number;
  readonly seconds: number;
}

/** Cache outcomes and bytes, summed from the counters: what /api/status and `wharf status` show. */
export interface CacheTotals {
  readonly hits: number;
  readonly misses: number;
  readonly bytesServed: number;
  readonly bytesFetched: number;
}

const SECONDS_BUCKETS = [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60];

/**
 * Prometheus metrics, one registry per wharf instance (tests run several in one process). Names
 * follow distribution's and zot's (`<namespace>_<subsystem>_<name>_<unit>`); labels stay bounded:
 * repository and upstream names (from the configuration), route kinds, methods, statuses and
 * outcomes, never image names or digests.
 *
 * "Bytes saved" is one query: `sum(wharf_served_bytes_total) - sum(wharf_upstream_fetched_bytes_total)`.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<"route" | "method" | "status" | "repo" | "cache">;
  readonly requestSeconds: Histogram<"route" | "method" | "repo">;
  /** Manifest and blob answers by the repository that served them and how (hit, miss, revalidated, stale). */
  readonly cacheResults: Counter<"repo" | "kind" | "result">;
  /** Body bytes sent to clients, by serving repository, kind and cache outcome. */
  readonly servedBytes: Counter<"repo" | "kind" | "result">;
  /** Body bytes received from upstreams, by the proxy repository that asked. */
  readonly fetchedBytes: Counter<"repo" | "kind">;
  readonly upstreamRequests: Counter<"upstream" | "kind" | "status">;
  readonly upstreamSeconds: Histogram<"upstream" | "kind">;
  readonly upstreamLimit: Gauge<"upstream">;
  readonly upstreamRemaining: Gauge<"upstream">;
  readonly downloadJoins: Counter;
  readonly evictions: Counter<"repo" | "reason">;
  readonly evictedBytes: Counter<"repo" | "reason">;
  readonly uploads: Counter<"repo" | "outcome">;
  readonly uploadedBytes: Counter<"repo">;
  readonly loginsRefused: Counter<"via">;
  readonly syncRuns: Counter<"repo" | "result">;
  readonly syncPulled: Counter<"repo">;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "wharf_" });
    this.requests = new Counter({
      name: "wharf_http_requests_total",
      help: "Requests answered, by route kind, method, status, repository and cache outcome",
      labelNames: ["route", "method", "status", "repo", "cache"],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: "wharf_http_request_duration_seconds",
      help: "Time from request to the end of the response",
      labelNames: ["route", "method", "repo"],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.cacheResults = new Counter({
      name: "wharf_cache_results_total",
      help: "Manifests and blobs answered, by the repository whose content answered, kind and cache outcome",
      labelNames: ["repo", "kind", "result"],
      registers,
    });
    this.servedBytes = new Counter({
      name: "wharf_served_bytes_total",
      help: "Manifest and blob bytes sent to clients (finished responses), by serving repository, kind and cache outcome",
      labelNames: ["repo", "kind", "result"],
      registers,
    });
    this.fetchedBytes = new Counter({
      name: "wharf_upstream_fetched_bytes_total",
      help: "Manifest and blob bytes received from upstreams, by the proxy repository that fetched them",
      labelNames: ["repo", "kind"],
      registers,
    });
    this.upstreamRequests = new Counter({
      name: "wharf_upstream_requests_total",
      help: "Requests to upstream registries (token services included), by upstream, kind and status (error: no answer)",
      labelNames: ["upstream", "kind", "status"],
      registers,
    });
    this.upstreamSeconds = new Histogram({
      name: "wharf_upstream_request_duration_seconds",
      help: "Time until an upstream's response headers arrived",
      labelNames: ["upstream", "kind"],
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.upstreamLimit = new Gauge({
      name: "wharf_upstream_ratelimit_limit",
      help: "Pulls allowed in the upstream's rate-limit window, as it last reported",
      labelNames: ["upstream"],
      registers,
    });
    this.upstreamRemaining = new Gauge({
      name: "wharf_upstream_ratelimit_remaining",
      help: "Pulls left in the upstream's current rate-limit window, as it last reported",
      labelNames: ["upstream"],
      registers,
    });
    new Gauge({
      name: "wharf_inflight_downloads",
      help: "Blob downloads from upstreams in progress",
      registers,
      collect() {
        this.set(sources.inflight());
      },
    });
    new Gauge({
      name: "wharf_download_waiters",
      help: "Requests reading a download another request started (coalesced), now",
      registers,
      collect() {
        this.set(sources.waiters());
      },
    });
    this.downloadJoins = new Counter({
      name: "wharf_download_joins_total",
      help: "Requests that joined a download another request had started, instead of asking upstream",
      registers,
    });
    new Gauge({
      name: "wharf_store_bytes",
      help: "Bytes each repository holds (each digest once), as last measured",
      labelNames: ["repo"],
      registers,
      collect() {
        this.reset();
        for (const [repo, bytes] of Object.entries(sources.store()?.repositories ?? {}))
          this.set({ repo }, bytes);
      },
    });
    new Gauge({
      name: "wharf_store_total_bytes",
      help: "Bytes the store holds for all repositories (each digest once), as last measured",
      registers,
      collect() {
        const store = sources.store();
        if (store) this.set(store.total);
      },
    });
    new Gauge({
      name: "wharf_store_free_bytes",
      help: "Free bytes on the data directory's disk, as last measured",
      registers,
      collect() {
        const free = sources.store()?.freeBytes;
        if (free !== undefined) this.set(free);
      },
    });
    const { caps } = sources;
    const capOf = new Gauge({
      name: "wharf_store_cap_bytes",
      help: "The most the store may hold (cache.max_size)",
      registers,
    });
    if (caps.total !== undefined) capOf.set(caps.total);
    const floor = new Gauge({
      name: "wharf_store_min_free_bytes",
      help: "The free space eviction keeps on the data directory's disk (cache.min_free)",
      registers,
    });
    if (caps.minFree !== undefined) floor.set(caps.minFree);
    const repositoryCaps = new Gauge({
      name: "wharf_repository_cap_bytes",
      help: "The most a proxy repository's cached images may take (its max_size)",
      labelNames: ["repo"],
      registers,
    });
    for (const [repo, bytes] of caps.repositories) repositoryCaps.set({ repo }, bytes);
    this.evictions = new Counter({
      name: "wharf_evictions_total",
      help: "Cached images evicted, by repository and reason (unused, repository-cap, store-cap, disk-floor)",
      labelNames: ["repo", "reason"],
      registers,
    });
    this.evictedBytes = new Counter({
      name: "wharf_evicted_bytes_total",
      help: "Bytes freed on disk by evictions, by repository and reason",
      labelNames: ["repo", "reason"],
      registers,
    });
    this.uploads = new Counter({
      name: "wharf_uploads_total",
      help: "Blob upload sessions, by repository and what became of them (started, completed, cancelled, expired)",
      labelNames: ["repo", "outcome"],
      registers,
    });
    this.uploadedBytes = new Counter({
      name: "wharf_uploaded_bytes_total",
      help: "Bytes of completed blob uploads, by repository",
      labelNames: ["repo"],
      registers,
    });
    this.syncRuns = new Counter({
      name: "wharf_sync_runs_total",
      help: "Runs of sync entries, by repository and result (ok, paused for the upstream's budget, failed)",
      labelNames: ["repo", "result"],
      registers,
    });
    this.syncPulled = new Counter({
      name: "wharf_sync_images_total",
      help: "Tags whose content a sync pulled because it was new here (a new tag, or one that moved)",
      labelNames: ["repo"],
      registers,
    });
    this.loginsRefused = new Counter({
      name: "wharf_logins_refused_total",
      help: "Logins refused (wrong user name, password or token), by how they came",
      labelNames: ["via"],
      registers,
    });
  }

  /** Counts one finished request. */
  request(facts: RequestFacts): void {
    const { route, method, repository, cache } = facts;
    this.requests.inc({ route, method, status: String(facts.status), repo: repository, cache: cache ?? "" });
    this.requestSeconds.observe({ route, method, repo: repository }, facts.seconds);
    if (cache === undefined || (route !== "manifest" && route !== "blob")) return;
    const labels = { repo: facts.servedBy, kind: route, result: cache };
    this.cacheResults.inc(labels);
    if (facts.bytes > 0) this.servedBytes.inc(labels, facts.bytes);
  }

  /** An upstream exchange of the proxy repository `upstream`. */
  upstreamExchange(upstream: string, exchange: UpstreamExchange): void {
    const status = exchange.status === undefined ? "error" : String(exchange.status);
    this.upstreamRequests.inc({ upstream, kind: exchange.kind, status });
    this.upstreamSeconds.observe({ upstream, kind: exchange.kind }, exchange.seconds);
  }

  rateLimit(upstream: string, snapshot: RateLimitSnapshot): void {
    if (snapshot.limit !== undefined) this.upstreamLimit.set({ upstream }, snapshot.limit);
    if (snapshot.remaining !== undefined) this.upstreamRemaining.set({ upstream }, snapshot.remaining);
  }

  evicted(done: CarriedOut): void {
    const labels = { repo: done.eviction.image.repo, reason: done.eviction.reason };
    this.evictions.inc(labels);
    this.evictedBytes.inc(labels, done.bytes);
  }

  syncRan(repo: string, run: SyncRun): void {
    this.syncRuns.inc({ repo, result: run.result });
    if (run.pulled.length > 0) this.syncPulled.inc({ repo }, run.pulled.length);
  }

  /** What downloads tell the metrics. */
  readonly downloads: DownloadObserver = { joined: () => this.downloadJoins.inc() };

  /** What upload sessions tell the metrics. */
  readonly uploadEvents: UploadObserver = {
    started: (repo) => this.uploads.inc({ repo, outcome: "started" }),
    completed: (repo, bytes) => {
      this.uploads.inc({ repo, outcome: "completed" });
      this.uploadedBytes.inc({ repo }, bytes);
    },
    cancelled: (repo) => this.uploads.inc({ repo, outcome: "cancelled" }),
    expired: (repo) => this.uploads.inc({ repo, outcome: "expired" }),
  };

  /** Hits, misses and bytes, overall and per repository (as `wharf status` shows them). */
  async cacheTotals(): Promise<{ total: CacheTotals; repositories: Record<string, CacheTotals> }> {
    const empty = (): { hits: number; misses: number; bytesServed: number; bytesFetched: number } => ({
      hits: 0,
      misses: 0,
      bytesServed: 0,
      bytesFetched: 0,
    });
    const total = empty();
    const repositories: Record<string, ReturnType<typeof empty>> = {};
    const of = (repo: string) => {
      repositories[repo] ??= empty();
      return repositories[repo];
    };
    for (const { labels, value } of (await this.cacheResults.get()).values) {
      // A revalidated answer came from the store, a stale one too: what the cache saved.
      const field = labels.result === "miss" ? "misses" : "hits";
      total[field] += value;
      of(String(labels.repo))[field] += value;
    }
    for (const { labels, value } of (await this.servedBytes.get()).values) {
      total.bytesServed += value;
      of(String(labels.repo)).bytesServed += value;
    }
    for (const { labels, value } of (await this.fetchedBytes.get()).values) {
      total.bytesFetched += value;
      of(String(labels.repo)).bytesFetched += value;
    }
    return { total, repositories };
  }
}
