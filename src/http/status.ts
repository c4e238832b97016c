import type { Metrics } from "../ops/metrics.js";
import { ProxyRepository } from "../repos/proxy.js";
import type { RepositoryRouter } from "../repos/router.js";
import { VERSION } from "../version.js";
import type { RequestContext } from "./context.js";
import { sendBytes, sendJson } from "./respond.js";
import { sendfileAvailable } from "./sendfile.js";
import type { SideRoutes } from "./server.js";

/**
 * Operator endpoints beside the registry API: `/api/status` (JSON: repositories, upstream pull
 * budgets and back-offs), `/metrics` (Prometheus) and `/healthz`.
 */
export function statusRoutes(options: {
  router: RepositoryRouter;
  metrics: Metrics;
  startedAt: number;
}): SideRoutes {
  const { router, metrics, startedAt } = options;
  const status = async (ctx: RequestContext) => {
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
      })),
    );
    sendJson(ctx, 200, {
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      defaultRepository: router.defaultRepository?.name ?? null,
      sendfile: sendfileAvailable,
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
