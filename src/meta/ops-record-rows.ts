import type { ActivityKind, ActivityRecord, SeriesSample } from "./ops-records.js";

// The operator's records as both databases' rows hold them (PostgreSQL's `user_name` is selected
// as `user`, a reserved word there).

export interface SampleRow {
  at: number;
  repo: string;
  hits: number;
  misses: number;
  bytes_served: number;
  bytes_fetched: number;
  budget_remaining: number | null;
  budget_limit: number | null;
}

export interface ActivityRow {
  id: number;
  at: number;
  kind: string;
  repo: string | null;
  name: string | null;
  reference: string | null;
  user: string | null;
  bytes: number | null;
  count: number;
  detail: string | null;
}

export function toSample(row: SampleRow): SeriesSample {
  return {
    at: row.at,
    repo: row.repo,
    hits: row.hits,
    misses: row.misses,
    bytesServed: row.bytes_served,
    bytesFetched: row.bytes_fetched,
    ...(row.budget_remaining === null ? {} : { budgetRemaining: row.budget_remaining }),
    ...(row.budget_limit === null ? {} : { budgetLimit: row.budget_limit }),
  };
}

export function toActivity(row: ActivityRow): ActivityRecord {
  return {
    id: row.id,
    at: row.at,
    kind: row.kind as ActivityKind,
    count: row.count,
    ...(row.repo === null ? {} : { repo: row.repo }),
    ...(row.name === null ? {} : { name: row.name }),
    ...(row.reference === null ? {} : { reference: row.reference }),
    ...(row.user === null ? {} : { user: row.user }),
    ...(row.bytes === null ? {} : { bytes: row.bytes }),
    ...(row.detail === null ? {} : { detail: row.detail }),
  };
}
