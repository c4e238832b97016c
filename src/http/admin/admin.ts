import type { Logger } from "pino";
import { ANONYMOUS } from "../../auth/rules.js";
import { Sessions } from "../../auth/sessions.js";
import type { AuthServices } from "../../auth/setup.js";
import type { OpsRecords } from "../../meta/ops-records.js";
import type { ActivityLog } from "../../ops/activity.js";
import type { ImageCatalog } from "../../ops/image-catalog.js";
import type { RepositoryRouter } from "../../repos/router.js";
import type { Clock } from "../../util/clock.js";
import { VERSION } from "../../version.js";
import type { AccessPolicy, LoginAudit } from "../access.js";
import type { PrefixRoute } from "../server.js";
import { AdminApi, API_PREFIX } from "./api.js";
import { type Endpoint, endpoint } from "./endpoint.js";
import { accountEndpoints } from "./endpoints/accounts.js";
import { type ActionServices, actionEndpoints } from "./endpoints/actions.js";
import { historyEndpoints } from "./endpoints/history.js";
import { type OperatorFacts, repositoryEndpoints } from "./endpoints/repositories.js";
import { sessionEndpoints } from "./endpoints/session.js";
import { openApiDocument } from "./openapi.js";
import { OpenApiDocument } from "./schemas.js";
import { StaticUi } from "./static-ui.js";

export interface AdminOptions {
  readonly router: RepositoryRouter;
  readonly catalog: ImageCatalog;
  readonly facts: OperatorFacts;
  /** Listener ports bound to one repository each (`port:` in the configuration). */
  readonly ports: ReadonlyMap<string, number>;
  readonly access: AccessPolicy;
  readonly auth: AuthServices | undefined;
  readonly records: OpsRecords;
  readonly activity: ActivityLog;
  readonly logins: LoginAudit;
  readonly actions: Omit<ActionServices, "router">;
  readonly audit: Logger;
  readonly clock: Clock;
}

/** Every endpoint of the admin API, the document describing them among them. */
export function adminEndpoints(options: AdminOptions, sessions: Sessions | undefined): Endpoint[] {
  const { router, auth, records, audit, clock, activity, catalog, facts, ports, access } = options;
  const anonymous = { principal: ANONYMOUS, via: "anonymous" as const };
  const endpoints: Endpoint[] = [
    ...sessionEndpoints({ auth, sessions, audit, logins: options.logins }),
    ...repositoryEndpoints({
      router,
      catalog,
      facts,
      ports,
      activity,
      anonymousMayPull: (repository, name) => access.allows(anonymous, repository, name, "pull"),
    }),
    ...historyEndpoints({ router, records, clock }),
    ...actionEndpoints({ router, ...options.actions }),
    ...accountEndpoints({ authenticator: auth?.authenticator, audit }),
  ];
  let document: Record<string, unknown> | undefined;
  const self = endpoint({
    method: "GET",
    path: "/openapi.json",
    operationId: "getOpenApi",
    summary: "This API's OpenAPI 3.1 document, generated from the schemas its handlers use",
    tag: "meta",
    audience: "anyone",
    response: OpenApiDocument,
    handle: async () => {
      document ??= openApiDocument(endpoints, VERSION);
      return {
        body: document as { openapi: string; info: Record<string, never>; paths: Record<string, unknown> },
      };
    },
  });
  endpoints.push(self);
  return endpoints;
}

/**
 * The admin API under `/api/v1/` and the dashboard's files at `/`: asked after the registry API
 * and the operator endpoints, so nothing they answer changes.
 */
export async function adminRoutes(options: AdminOptions): Promise<PrefixRoute[]> {
  const sessions = options.auth ? new Sessions(options.auth.store, options.clock) : undefined;
  const api = new AdminApi(adminEndpoints(options, sessions), options.access, sessions);
  const ui = await StaticUi.load();
  return [
    { prefix: `${API_PREFIX}/`, handle: (ctx) => api.handle(ctx) },
    { prefix: "/", handle: (ctx) => ui.handle(ctx) },
  ];
}
