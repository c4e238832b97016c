import type { StoreSnapshot } from "../ops/cache-keeper.js";
import type { MetricSources, Metrics } from "../ops/metrics.js";
import { ProxyRepository } from "../repos/proxy.js";
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
}

/** A repository's share of the store against its cap. */
function shareOf(
  stored: StoreSnapshot,
  repo: string,
  cap: number | undefined,
): { bytes: number; cap?: number } {
  return { bytes: stored.repositories[repo] ?? 0, ...(cap === undefined ? {} : { cap }) };
}

/**
 * Operator endpoints beside the registry API: `/api/status` (JSON: repositories, upstream pull
 * budgets and back-offs, the store against its caps, cache hits and bytes), `/metrics`
 * (Prometheus) and `/healthz`.
 */
export function statusRoutes(options: {
  router: RepositoryRouter;
  metrics: Metrics;
  startedAt: number;
  /** The store's size, free space and bounds, and each cache sync's last run. */
  cache: CacheStatus;
}): SideRoutes {
  const { router, metrics, startedAt, cache } = options;
  const status = async (ctx: RequestContext) => {
    const totals = await metrics.cacheTotals();
    const stored = cache.store();
    const repositories = await Promise.all(
      [...router.repositories.values()].map(async (repository) => ({
        name: repository.name,
        type: repository.kind,
        ...(repository instanceof ProxyRepository
          ? {
              upstream: {
                url: repository.upstream.url,
                rateLimit: await repository.upstream.rateLimit.snapshot(),
                tokenRequests: repository.upstream.tokenRequests,
              },
            }
          : {}),
        ...(stored
          ? { store: shareOf(stored, repository.name, cache.caps.repositories.get(repository.name)) }
          : {}),
        ...(totals.repositories[repository.name] ? { cache: totals.repositories[repository.name] } : {}),
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
  const read = ["GET", "HEAD"] as const;
  return new Map([
    ["/api/status", { methods: read, handle: status }],
    ["/metrics", { methods: read, handle: metricsText }],
    ["/healthz", { methods: read, handle: (ctx: RequestContext) => sendJson(ctx, 200, { ok: true }) }],
  ]);
}
