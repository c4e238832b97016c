import type pg from "pg";
import { type ActivityRow, type SampleRow, toActivity, toSample } from "./ops-record-rows.js";
import type {
  ActivityRecord,
  NewActivity,
  OpsRecords,
  SeriesResolution,
  SeriesSample,
} from "./ops-records.js";
import { HOUR_MS } from "./ops-records.js";
import type { Queryable } from "./postgres-pool.js";

/**
 * The tables of OpsRecords beside the content metadata, as in SQLite (`sqlite-ops-records.ts`):
 *
 *   series_minute (at, repo) → hits, misses, bytes_served, bytes_fetched, budget_remaining, budget_limit
 *   series_hour   (at, repo) → the same, summed over the hour's minutes
 *   activity      id → at, kind, repo, name, reference, user_name, bytes, count, detail
 *
 * Every node writes its own minutes into the same rows, so a cluster's series add up by themselves.
 */
export const POSTGRES_OPS_RECORDS_MIGRATION = `
  CREATE TABLE series_minute (
    at BIGINT NOT NULL, repo TEXT COLLATE "C" NOT NULL,
    hits BIGINT NOT NULL, misses BIGINT NOT NULL, bytes_served BIGINT NOT NULL, bytes_fetched BIGINT NOT NULL,
    budget_remaining BIGINT, budget_limit BIGINT,
    PRIMARY KEY (at, repo)
  );
  CREATE TABLE series_hour (
    at BIGINT NOT NULL, repo TEXT COLLATE "C" NOT NULL,
    hits BIGINT NOT NULL, misses BIGINT NOT NULL, bytes_served BIGINT NOT NULL, bytes_fetched BIGINT NOT NULL,
    budget_remaining BIGINT, budget_limit BIGINT,
    PRIMARY KEY (at, repo)
  );
  CREATE TABLE activity (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, kind TEXT NOT NULL,
    repo TEXT, name TEXT, reference TEXT, user_name TEXT, bytes BIGINT, count BIGINT NOT NULL, detail TEXT
  );
  CREATE INDEX activity_by_repo ON activity (repo, id);`;

const SAMPLE_COLUMNS = "at, repo, hits, misses, bytes_served, bytes_fetched, budget_remaining, budget_limit";

/**
 * Adds grouped samples into a series table: counts add up, the budget keeps its lowest remaining and
 * highest limit (`least`/`greatest` pass over NULL, as "no report" should).
 */
function upsertInto(table: string, grouped: string): string {
  return `INSERT INTO ${table} (${SAMPLE_COLUMNS}) SELECT ${SAMPLE_COLUMNS} FROM ${grouped}
    ON CONFLICT (at, repo) DO UPDATE SET
      hits = ${table}.hits + excluded.hits, misses = ${table}.misses + excluded.misses,
      bytes_served = ${table}.bytes_served + excluded.bytes_served,
      bytes_fetched = ${table}.bytes_fetched + excluded.bytes_fetched,
      budget_remaining = least(${table}.budget_remaining, excluded.budget_remaining),
      budget_limit = greatest(${table}.budget_limit, excluded.budget_limit)`;
}

/** The batch's samples summed per (interval, repo): one statement may touch a row only once. */
function grouped(interval: string): string {
  return `(SELECT ${interval} AS at, repo, sum(hits)::bigint AS hits, sum(misses)::bigint AS misses,
      sum(bytes_served)::bigint AS bytes_served, sum(bytes_fetched)::bigint AS bytes_fetched,
      min(budget_remaining) AS budget_remaining, max(budget_limit) AS budget_limit
    FROM samples GROUP BY 1, repo) AS g`;
}

/** OpsRecords over PostgreSQL, on whatever runs the metadata statements (the pool or a transaction). */
export class PostgresOpsRecords implements OpsRecords {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async #rows<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]): Promise<R[]> {
    return (await this.#db.query<R>({ name: `ops.${name}`, text, values })).rows;
  }

  async recordSamples(samples: readonly SeriesSample[]): Promise<void> {
    if (samples.length === 0) return;
    // One statement: the minute rows and their hours change together.
    await this.#rows(
      "recordSamples",
      `WITH samples AS (
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
                              $7::bigint[], $8::bigint[])
           AS s(at, repo, hits, misses, bytes_served, bytes_fetched, budget_remaining, budget_limit)
       ), minutes AS (${upsertInto("series_minute", grouped("at"))})
       ${upsertInto("series_hour", grouped(`at - (at % ${HOUR_MS})`))}`,
      [
        samples.map((s) => s.at),
        samples.map((s) => s.repo),
        samples.map((s) => s.hits),
        samples.map((s) => s.misses),
        samples.map((s) => s.bytesServed),
        samples.map((s) => s.bytesFetched),
        samples.map((s) => s.budgetRemaining ?? null),
        samples.map((s) => s.budgetLimit ?? null),
      ],
    );
  }

  async listSamples(resolution: SeriesResolution, since: number): Promise<SeriesSample[]> {
    const table = resolution === "minute" ? "series_minute" : "series_hour";
    const rows = await this.#rows<SampleRow>(
      `listSamples.${resolution}`,
      `SELECT ${SAMPLE_COLUMNS} FROM ${table} WHERE at >= $1 ORDER BY at, repo`,
      [since],
    );
    return rows.map(toSample);
  }

  async trimSamples(minutesBefore: number, hoursBefore: number): Promise<void> {
    await this.#rows(
      "trimSamples",
      `WITH minutes AS (DELETE FROM series_minute WHERE at < $1) DELETE FROM series_hour WHERE at < $2`,
      [minutesBefore, hoursBefore],
    );
  }

  async appendActivity(events: readonly NewActivity[]): Promise<void> {
    if (events.length === 0) return;
    // Inserted in the order given, so ids (newest highest) follow the events.
    await this.#rows(
      "appendActivity",
      `INSERT INTO activity (at, kind, repo, name, reference, user_name, bytes, count, detail)
       SELECT at, kind, repo, name, reference, user_name, bytes, count, detail
       FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                   $8::bigint[], $9::text[]) WITH ORDINALITY
         AS e(at, kind, repo, name, reference, user_name, bytes, count, detail, position)
       ORDER BY position`,
      [
        events.map((e) => e.at),
        events.map((e) => e.kind),
        events.map((e) => e.repo ?? null),
        events.map((e) => e.name ?? null),
        events.map((e) => e.reference ?? null),
        events.map((e) => e.user ?? null),
        events.map((e) => e.bytes ?? null),
        events.map((e) => e.count),
        events.map((e) => e.detail ?? null),
      ],
    );
  }

  async listActivity(query: { limit: number; before?: number; repo?: string }): Promise<ActivityRecord[]> {
    const before = query.before ?? Number.MAX_SAFE_INTEGER;
    const rows =
      query.repo === undefined
        ? await this.#rows<ActivityRow>(
            "listActivity",
            'SELECT id, at, kind, repo, name, reference, user_name AS "user", bytes, count, detail FROM activity WHERE id < $1 ORDER BY id DESC LIMIT $2',
            [before, query.limit],
          )
        : await this.#rows<ActivityRow>(
            "listActivityOf",
            'SELECT id, at, kind, repo, name, reference, user_name AS "user", bytes, count, detail FROM activity WHERE repo = $1 AND id < $2 ORDER BY id DESC LIMIT $3',
            [query.repo, before, query.limit],
          );
    return rows.map(toActivity);
  }

  async trimActivity(keep: number): Promise<void> {
    await this.#rows(
      "trimActivity",
      "DELETE FROM activity WHERE id <= (SELECT id FROM activity ORDER BY id DESC LIMIT 1 OFFSET $1)",
      [keep],
    );
  }
}
