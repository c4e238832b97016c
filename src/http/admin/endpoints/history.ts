import type { OpsRecords, SeriesResolution } from "../../../meta/ops-records.js";
import { readSeries } from "../../../ops/series.js";
import type { RepositoryRouter } from "../../../repos/router.js";
import type { Clock } from "../../../util/clock.js";
import type { AdminCaller } from "../caller.js";
import { endpoint } from "../endpoint.js";
import { AdminError } from "../errors.js";
import { Activity, type ActivityEventBody, ActivityQuery, Series, SeriesQuery } from "../schemas.js";
import { viewOf } from "../visibility.js";

const iso = (ms: number) => new Date(ms).toISOString();

/** Rows scanned at most for one page of activity, however little of it the caller may see. */
const MAX_SCANNED = 5000;

export interface HistoryServices {
  readonly router: RepositoryRouter;
  readonly records: OpsRecords;
  readonly clock: Clock;
}

/**
 * The repositories whose traffic the caller may see: every holder of those they see all of.
 * Traffic counts say how busy a repository is, so they are shown only to whoever may pull
 * everything in it.
 */
function trafficOf(caller: AdminCaller, router: RepositoryRouter, only: string | undefined): Set<string> {
  const chosen = only === undefined ? [...router.repositories.values()] : [router.repository(only)];
  const names = new Set<string>();
  for (const repository of chosen) {
    if (!repository) throw new AdminError("NOT_FOUND", `no repository ${only}`);
    const view = viewOf(caller, repository);
    if (only !== undefined && !view.visible) throw new AdminError("NOT_FOUND", `no repository ${only}`);
    if (view.seesAll) for (const holder of view.holders) names.add(holder.name);
  }
  return names;
}

/** Whether the caller may see an event: one about an image when they may pull it, the rest (refused logins) when admin. */
function maySee(caller: AdminCaller, event: { repo?: string; name?: string }): boolean {
  if (caller.admin) return true;
  return (
    event.repo !== undefined && event.name !== undefined && caller.allows(event.repo, event.name, "pull")
  );
}

/** The time series and the activity log. */
export function historyEndpoints(services: HistoryServices) {
  const { router, records, clock } = services;
  return [
    endpoint({
      method: "GET",
      path: "/series",
      operationId: "getSeries",
      summary:
        "Hits, misses, bytes served and fetched, and upstream budget: per minute for a day, per hour for a month",
      tag: "history",
      audience: "anyone",
      query: SeriesQuery,
      response: Series,
      handle: async ({ caller, query }) => {
        const repositories = trafficOf(caller, router, query.repository);
        const resolution: SeriesResolution = query.range === "day" ? "minute" : "hour";
        const points = await readSeries(records, resolution, repositories, clock.now());
        return {
          body: {
            resolution,
            repositories: [...repositories].sort(),
            points: points.map((p) => ({ ...p, at: iso(p.at) })),
          },
        };
      },
    }),
    endpoint({
      method: "GET",
      path: "/activity",
      operationId: "getActivity",
      summary:
        "Recent pushes, first pulls of new content, deletes, evictions and refused logins, newest first",
      tag: "history",
      audience: "anyone",
      query: ActivityQuery,
      response: Activity,
      handle: async ({ caller, query }) => {
        const events: ActivityEventBody[] = [];
        let before = query.before;
        let scanned = 0;
        while (events.length < query.limit && scanned < MAX_SCANNED) {
          const page = await records.listActivity({
            limit: 200,
            ...(before === undefined ? {} : { before }),
            ...(query.repository === undefined ? {} : { repo: query.repository }),
          });
          for (const event of page) {
            if (events.length >= query.limit) break;
            if (!maySee(caller, event)) continue;
            events.push({
              id: event.id,
              at: iso(event.at),
              kind: event.kind,
              repository: event.repo ?? null,
              name: event.name ?? null,
              reference: event.reference ?? null,
              user: event.user ?? null,
              bytes: event.bytes ?? null,
              count: event.count,
              detail: event.detail ?? null,
            });
          }
          scanned += page.length;
          if (page.length < 200) break;
          before = page.at(-1)?.id;
        }
        return { body: { events } };
      },
    }),
  ];
}
