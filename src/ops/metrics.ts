import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * Prometheus metrics, one registry per wharf instance (tests run several in one process).
 * Labels stay low-cardinality: route kinds and repository names, never image names or digests.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<"route" | "method" | "status" | "repo" | "cache">;
  readonly requestSeconds: Histogram<"route" | "method">;
  readonly upstreamBudget: Gauge<"repo">;
  readonly inflightDownloads: Gauge;

  constructor(inflight: () => number) {
    collectDefaultMetrics({ register: this.registry, prefix: "wharf_" });
    this.requests = new Counter({
      name: "wharf_http_requests_total",
      help: "Requests answered, by route kind, method, status, repository and cache outcome",
      labelNames: ["route", "method", "status", "repo", "cache"],
      registers: [this.registry],
    });
    this.requestSeconds = new Histogram({
      name: "wharf_http_request_duration_seconds",
      help: "Time from request to the end of the response",
      labelNames: ["route", "method"],
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60],
      registers: [this.registry],
    });
    this.upstreamBudget = new Gauge({
      name: "wharf_upstream_ratelimit_remaining",
      help: "Pulls left in the upstream's current rate-limit window, as it last reported",
      labelNames: ["repo"],
      registers: [this.registry],
    });
    this.inflightDownloads = new Gauge({
      name: "wharf_inflight_downloads",
      help: "Blob downloads from upstreams in progress",
      registers: [this.registry],
      collect() {
        this.set(inflight());
      },
    });
  }
}
