import type Database from "better-sqlite3";
import { type ActivityRow, type SampleRow, toActivity, toSample } from "./ops-record-rows.js";
import {
  type ActivityRecord,
  hourOf,
  type NewActivity,
  type OpsRecords,
  type SeriesResolution,
  type SeriesSample,
} from "./ops-records.js";

/**
 * The tables of OpsRecords in wharf.db:
 *
 *   series_minute (at, repo) → hits, misses, bytes_served, bytes_fetched, budget_remaining, budget_limit
 *   series_hour   (at, repo) → the same, summed over the hour's minutes
 *   activity      id → at, kind, repo, name, reference, user, bytes, count, detail
 *
 * Both series are small by construction (a day of minutes, a month of hours, per repository) and
 * trimmed by the sampler; activity is trimmed to a fixed number of events.
 */
export const OPS_RECORDS_MIGRATION = `
  CREATE TABLE series_minute (
    at INTEGER NOT NULL, repo TEXT NOT NULL,
    hits INTEGER NOT NULL, misses INTEGER NOT NULL, bytes_served INTEGER NOT NULL, bytes_fetched INTEGER NOT NULL,
    budget_remaining INTEGER, budget_limit INTEGER,
    PRIMARY KEY (at, repo)
  ) WITHOUT ROWID;
  CREATE TABLE series_hour (
    at INTEGER NOT NULL, repo TEXT NOT NULL,
    hits INTEGER NOT NULL, misses INTEGER NOT NULL, bytes_served INTEGER NOT NULL, bytes_fetched INTEGER NOT NULL,
    budget_remaining INTEGER, budget_limit INTEGER,
    PRIMARY KEY (at, repo)
  ) WITHOUT ROWID;
  CREATE TABLE activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL,
    repo TEXT, name TEXT, reference TEXT, user TEXT, bytes INTEGER, count INTEGER NOT NULL, detail TEXT
  );
  CREATE INDEX activity_by_repo ON activity (repo, id);`;

/** Adds a sample into a series table's row: counts add up, the budget keeps its lowest and highest. */
const UPSERT = (table: string) => `
  INSERT INTO ${table} (at, repo, hits, misses, bytes_served, bytes_fetched, budget_remaining, budget_limit)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (at, repo) DO UPDATE SET
    hits = hits + excluded.hits, misses = misses + excluded.misses,
    bytes_served = bytes_served + excluded.bytes_served, bytes_fetched = bytes_fetched + excluded.bytes_fetched,
    budget_remaining = CASE WHEN budget_remaining IS NULL THEN excluded.budget_remaining
      WHEN excluded.budget_remaining IS NULL THEN budget_remaining
      ELSE MIN(budget_remaining, excluded.budget_remaining) END,
    budget_limit = CASE WHEN budget_limit IS NULL THEN excluded.budget_limit
      WHEN excluded.budget_limit IS NULL THEN budget_limit
      ELSE MAX(budget_limit, excluded.budget_limit) END`;

type SampleArgs = [number, string, number, number, number, number, number | null, number | null];

/** OpsRecords over SQLite, on the connection the metadata statements use. */
export class SqliteOpsRecords implements OpsRecords {
  readonly #recordTx: (samples: readonly SeriesSample[]) => void;
  readonly #list: Record<SeriesResolution, Database.Statement<[number], SampleRow>>;
  readonly #trimTx: (minutesBefore: number, hoursBefore: number) => void;
  readonly #appendTx: (events: readonly NewActivity[]) => void;
  readonly #activity: Database.Statement<[number, number], ActivityRow>;
  readonly #activityOf: Database.Statement<[string, number, number], ActivityRow>;
  readonly #trimActivity: Database.Statement<[number]>;

  constructor(db: Database.Database) {
    const minute = db.prepare<SampleArgs>(UPSERT("series_minute"));
    const hour = db.prepare<SampleArgs>(UPSERT("series_hour"));
    const args = (s: SeriesSample, at: number): SampleArgs => [
      at,
      s.repo,
      s.hits,
      s.misses,
      s.bytesServed,
      s.bytesFetched,
      s.budgetRemaining ?? null,
      s.budgetLimit ?? null,
    ];
    this.#recordTx = db.transaction((samples: readonly SeriesSample[]) => {
      for (const sample of samples) {
        minute.run(...args(sample, sample.at));
        hour.run(...args(sample, hourOf(sample.at)));
      }
    });
    this.#list = {
      minute: db.prepare("SELECT * FROM series_minute WHERE at >= ? ORDER BY at, repo"),
      hour: db.prepare("SELECT * FROM series_hour WHERE at >= ? ORDER BY at, repo"),
    };
    const trimMinutes = db.prepare<[number]>("DELETE FROM series_minute WHERE at < ?");
    const trimHours = db.prepare<[number]>("DELETE FROM series_hour WHERE at < ?");
    this.#trimTx = db.transaction((minutesBefore: number, hoursBefore: number) => {
      trimMinutes.run(minutesBefore);
      trimHours.run(hoursBefore);
    });
    const append = db.prepare(
      `INSERT INTO activity (at, kind, repo, name, reference, user, bytes, count, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#appendTx = db.transaction((events: readonly NewActivity[]) => {
      for (const e of events) {
        append.run(
          e.at,
          e.kind,
          e.repo ?? null,
          e.name ?? null,
          e.reference ?? null,
          e.user ?? null,
          e.bytes ?? null,
          e.count,
          e.detail ?? null,
        );
      }
    });
    this.#activity = db.prepare("SELECT * FROM activity WHERE id < ? ORDER BY id DESC LIMIT ?");
    this.#activityOf = db.prepare(
      "SELECT * FROM activity WHERE repo = ? AND id < ? ORDER BY id DESC LIMIT ?",
    );
    this.#trimActivity = db.prepare(
      "DELETE FROM activity WHERE id <= (SELECT id FROM activity ORDER BY id DESC LIMIT 1 OFFSET ?)",
    );
  }

  async recordSamples(samples: readonly SeriesSample[]): Promise<void> {
    this.#recordTx(samples);
  }

  async listSamples(resolution: SeriesResolution, since: number): Promise<SeriesSample[]> {
    return this.#list[resolution].all(since).map(toSample);
  }

  async trimSamples(minutesBefore: number, hoursBefore: number): Promise<void> {
    this.#trimTx(minutesBefore, hoursBefore);
  }

  async appendActivity(events: readonly NewActivity[]): Promise<void> {
    this.#appendTx(events);
  }

  async listActivity(query: { limit: number; before?: number; repo?: string }): Promise<ActivityRecord[]> {
    const before = query.before ?? Number.MAX_SAFE_INTEGER;
    const rows =
      query.repo === undefined
        ? this.#activity.all(before, query.limit)
        : this.#activityOf.all(query.repo, before, query.limit);
    return rows.map(toActivity);
  }

  async trimActivity(keep: number): Promise<void> {
    this.#trimActivity.run(keep);
  }
}
