import type { StoreSnapshot } from "../ops/cache-keeper.js";
import type { MetricSources, Metrics } from "../ops/metrics.js";
import type { Readiness } from "../ops/readiness.js";
import type { SyncStatus } from "../ops/sync.js";
import type { RepositoryDescription } from "../repos/repository.js";
import type { RepositoryRouter } from "../repos/router.js";
import { VERSION } from "../version.js";
import type { RequestContext } from "./context.js";
import { sendBytes, sendJson } from "./respond.js";
import { sendfileAvailable } from "./sendfile.js";
import type { SideRoutes } from "./server.js";

/** What /api/status tells of the store: its last measurement and the configured bounds. */
export interface CacheStatus {
  store(): StoreSnapshot | undefined;
  readonly caps: MetricSources["caps"];
  /** Each repository's sync entries and their last runs. */
  sync(): ReadonlyMap<string, readonly SyncStatus[]>;
}

/** A repository's share of the store against its cap. */
function shareOf(
  stored: StoreSnapshot,
  repo: string,
  cap: number | undefined,
): { bytes: number; cap?: number } {
  return { bytes: stored.repositories[repo] ?? 0, ...(cap === undefined ? {} : { cap }) };
}

/** A repository as /api/status shows it: its name and type, and a proxy's upstream and pull budget. */
function statusOf(description: RepositoryDescription) {
  const { name, type } = description;
  if (description.type !== "proxy") return { name, type };
  const { url, rateLimit, tokenRequests } = description.upstream;
  return { name, type, upstream: { url, rateLimit, tokenRequests } };
}

/**
 * Operator endpoints beside the registry API: `/api/status` (JSON: repositories, upstream pull
 * budgets and back-offs, the store against its caps, cache hits and bytes), `/metrics`
 * (Prometheus), `/healthz` (alive) and `/readyz` (ready to serve: 503 with the failed check while
 * a store does not work or a stop has begun).
 */
export function statusRoutes(options: {
  router: RepositoryRouter;
  metrics: Metrics;
  readiness: Readiness;
  startedAt: number;
  /** The store's size, free space and bounds, and each cache sync's last run. */
  cache: CacheStatus;
}): SideRoutes {
  const { router, metrics, readiness, startedAt, cache } = options;
  const status = async (ctx: RequestContext) => {
    const totals = await metrics.cacheTotals();
    const stored = cache.store();
    const syncs = cache.sync();
    const repositories = await Promise.all(
      [...router.repositories.values()].map(async (repository) => ({
        ...statusOf(await repository.describe()),
        ...(stored
          ? { store: shareOf(stored, repository.name, cache.caps.repositories.get(repository.name)) }
          : {}),
        ...(totals.repositories[repository.name] ? { cache: totals.repositories[repository.name] } : {}),
        ...(syncs.has(repository.name) ? { sync: syncs.get(repository.name) } : {}),
      })),
    );
    sendJson(ctx, 200, {
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      defaultRepository: router.defaultRepository?.name ?? null,
      sendfile: sendfileAvailable,
      ...(stored
        ? {
            store: {
              bytes: stored.total,
              ...(cache.caps.total === undefined ? {} : { cap: cache.caps.total }),
              ...(stored.freeBytes === undefined ? {} : { freeBytes: stored.freeBytes }),
              ...(cache.caps.minFree === undefined ? {} : { floorBytes: cache.caps.minFree }),
              measuredAt: new Date(stored.measuredAt).toISOString(),
            },
          }
        : {}),
      cache: totals.total,
      repositories,
    });
  };
  const metricsText = async (ctx: RequestContext) => {
    const text = await metrics.registry.metrics();
    sendBytes(ctx, 200, Buffer.from(text), { "content-type": metrics.registry.contentType });
  };
  const ready = async (ctx: RequestContext) => {
    const report = await readiness.report();
    sendJson(ctx, report.ready ? 200 : 503, report);
  };
  const read = ["GET", "HEAD"] as const;
  return new Map([
    ["/api/status", { methods: read, handle: status }],
    ["/metrics", { methods: read, handle: metricsText }],
    // Alive: answered as long as the event loop runs, whatever state the stores are in.
    ["/healthz", { methods: read, handle: (ctx: RequestContext) => sendJson(ctx, 200, { ok: true }) }],
    ["/readyz", { methods: read, handle: ready }],
  ]);
}
