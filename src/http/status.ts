import type { Metrics } from "../ops/metrics.js";
import type { RepositoryDescription } from "../repos/repository.js";
import type { RepositoryRouter } from "../repos/router.js";
import { VERSION } from "../version.js";
import type { RequestContext } from "./context.js";
import { sendBytes, sendJson } from "./respond.js";
import { sendfileAvailable } from "./sendfile.js";
import type { SideRoutes } from "./server.js";

/** A repository as /api/status shows it: its name and type, and a proxy's upstream and pull budget. */
function statusOf(description: RepositoryDescription) {
  const { name, type } = description;
  if (description.type !== "proxy") return { name, type };
  const { url, rateLimit, tokenRequests } = description.upstream;
  return { name, type, upstream: { url, rateLimit, tokenRequests } };
}

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
      [...router.repositories.values()].map(async (repository) => statusOf(await repository.describe())),
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
