import type { Metrics } from "../ops/metrics.js";
import type { Readiness } from "../ops/readiness.js";
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
 * budgets and back-offs), `/metrics` (Prometheus), `/healthz` (alive) and `/readyz` (ready to
 * serve: 503 with the failed check while a store does not work or a stop has begun).
 */
export function statusRoutes(options: {
  router: RepositoryRouter;
  metrics: Metrics;
  readiness: Readiness;
  startedAt: number;
}): SideRoutes {
  const { router, metrics, readiness, startedAt } = options;
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
