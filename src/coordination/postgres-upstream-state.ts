import type { Queryable } from "../meta/postgres-pool.js";
import { type Clock, systemClock } from "../util/clock.js";
import {
  boundedBackoffSeconds,
  type PullBudget,
  type RateLimitSnapshot,
  type UpstreamState,
} from "./upstream-state.js";

interface StateRow {
  budget_limit: number | null;
  remaining: number | null;
  window_seconds: number | null;
  source: string | null;
  observed_at: number | null;
  backoff_until: number;
  backoff_reason: string | null;
}

/**
 * One upstream's rate-limit state in the cluster's database (`upstream_state`), so a 429 seen by
 * one node holds every node's counted requests. Each call is one statement on a primary key:
 * asked before each counted request, it costs a round trip to the database, far less than the
 * request it guards.
 */
export class PostgresUpstreamState implements UpstreamState {
  readonly #db: Queryable;
  readonly #upstream: string;
  readonly #clock: Clock;

  constructor(db: Queryable, upstream: string, clock: Clock = systemClock) {
    this.#db = db;
    this.#upstream = upstream;
    this.#clock = clock;
  }

  async backoffRemaining(): Promise<number> {
    const now = this.#clock.now();
    const { rows } = await this.#db.query<{ backoff_until: number }>({
      name: "coordination.backoffUntil",
      text: "SELECT backoff_until FROM upstream_state WHERE upstream = $1",
      values: [this.#upstream],
    });
    const until = rows[0]?.backoff_until ?? 0;
    return until > now ? Math.ceil((until - now) / 1000) : 0;
  }

  async recordBudget(budget: PullBudget): Promise<boolean> {
    // The row as it was and the write in one statement: the CTE reads the snapshot before the upsert.
    const { rows } = await this.#db.query<{ before_limit: number | null; before_remaining: number | null }>({
      name: "coordination.recordBudget",
      text: `WITH before AS (SELECT budget_limit, remaining FROM upstream_state WHERE upstream = $1),
                  written AS (
                    INSERT INTO upstream_state (upstream, budget_limit, remaining, window_seconds, source, observed_at)
                    VALUES ($1, $2, $3, $4, $5, $6)
                    ON CONFLICT (upstream) DO UPDATE SET budget_limit = excluded.budget_limit,
                      remaining = excluded.remaining,
                      window_seconds = COALESCE(excluded.window_seconds, upstream_state.window_seconds),
                      source = COALESCE(excluded.source, upstream_state.source),
                      observed_at = excluded.observed_at
                    RETURNING 1)
             SELECT (SELECT budget_limit FROM before) AS before_limit,
                    (SELECT remaining FROM before) AS before_remaining
             FROM written`,
      values: [
        this.#upstream,
        budget.limit,
        budget.remaining,
        budget.windowSeconds ?? null,
        budget.source ?? null,
        this.#clock.now(),
      ],
    });
    const before = rows[0];
    return before?.before_limit !== budget.limit || before?.before_remaining !== budget.remaining;
  }

  async backOff(seconds: number, reason: string): Promise<boolean> {
    const now = this.#clock.now();
    const until = now + boundedBackoffSeconds(seconds) * 1000;
    const { rows } = await this.#db.query<{ before_until: number | null }>({
      name: "coordination.backOff",
      text: `WITH before AS (SELECT backoff_until FROM upstream_state WHERE upstream = $1),
                  written AS (
                    INSERT INTO upstream_state (upstream, backoff_until, backoff_reason) VALUES ($1, $2, $3)
                    ON CONFLICT (upstream) DO UPDATE SET
                      backoff_until = GREATEST(upstream_state.backoff_until, excluded.backoff_until),
                      backoff_reason = excluded.backoff_reason
                    RETURNING 1)
             SELECT (SELECT backoff_until FROM before) AS before_until FROM written`,
      values: [this.#upstream, until, reason],
    });
    return (rows[0]?.before_until ?? 0) <= now;
  }

  async snapshot(): Promise<RateLimitSnapshot> {
    const { rows } = await this.#db.query<StateRow>({
      name: "coordination.upstreamSnapshot",
      text: `SELECT budget_limit, remaining, window_seconds, source, observed_at, backoff_until, backoff_reason
             FROM upstream_state WHERE upstream = $1`,
      values: [this.#upstream],
    });
    const row = rows[0];
    if (!row) return {};
    const snapshot: RateLimitSnapshot = {};
    if (row.budget_limit !== null) snapshot.limit = row.budget_limit;
    if (row.remaining !== null) snapshot.remaining = row.remaining;
    if (row.window_seconds !== null) snapshot.windowSeconds = row.window_seconds;
    if (row.source !== null) snapshot.source = row.source;
    if (row.observed_at !== null) snapshot.observedAt = new Date(row.observed_at).toISOString();
    if (row.backoff_until > this.#clock.now()) {
      snapshot.backoffUntil = new Date(row.backoff_until).toISOString();
      if (row.backoff_reason !== null) snapshot.backoffReason = row.backoff_reason;
    }
    return snapshot;
  }
}
