import { type Clock, systemClock } from "../util/clock.js";

/** A pull budget as an upstream reports it (Docker Hub: `ratelimit-remaining: 76;w=21600`). */
export interface PullBudget {
  readonly limit: number;
  readonly remaining: number;
  readonly windowSeconds?: number | undefined;
  /** Who the budget is counted for, as the upstream names it (Docker Hub: the client's address). */
  readonly source?: string | undefined;
}

/** What is known of one upstream's rate limit, for /api/status and the log. */
export interface RateLimitSnapshot {
  limit?: number;
  remaining?: number;
  windowSeconds?: number;
  source?: string;
  observedAt?: string;
  /** While set and in the future, wharf does not send counted requests to this upstream. */
  backoffUntil?: string;
  backoffReason?: string;
}

/**
 * The rate-limit state of one upstream: the budget it last reported and the back-off wharf
 * imposes on itself after a 429. Every node reading the upstream shares it (a 429 seen by one
 * must stop them all), so the upstream client asks it before every counted request and tells it
 * what each response said; nothing else writes it. Async, so a shared database can stand behind
 * it; times come from the implementation's clock.
 */
export interface UpstreamState {
  /** Seconds left in the current back-off, 0 when counted requests may go out. */
  backoffRemaining(): Promise<number>;
  /** Records a reported budget; true when limit or remaining changed (worth one log line). */
  recordBudget(budget: PullBudget): Promise<boolean>;
  /**
   * Holds counted requests for `seconds` (at most a day); a shorter back-off never cuts a running
   * one short. True when none was running (worth one log line).
   */
  backOff(seconds: number, reason: string): Promise<boolean>;
  snapshot(): Promise<RateLimitSnapshot>;
}

/** An upstream may ask for anything in Retry-After; a day is longer than any real rate-limit window. */
const MAX_BACKOFF_SECONDS = 86_400;

/** The back-off a requested number of seconds amounts to: never negative, at most a day. */
export function boundedBackoffSeconds(seconds: number): number {
  return Math.min(Math.max(0, seconds), MAX_BACKOFF_SECONDS);
}

/** The state of one upstream in this process alone: what a single node needs. */
export class LocalUpstreamState implements UpstreamState {
  readonly #clock: Clock;
  #snapshot: RateLimitSnapshot = {};
  #backoffUntil = 0;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  async backoffRemaining(): Promise<number> {
    const now = this.#clock.now();
    return this.#backoffUntil > now ? Math.ceil((this.#backoffUntil - now) / 1000) : 0;
  }

  async recordBudget(budget: PullBudget): Promise<boolean> {
    const changed = budget.remaining !== this.#snapshot.remaining || budget.limit !== this.#snapshot.limit;
    this.#snapshot = {
      ...this.#snapshot,
      limit: budget.limit,
      remaining: budget.remaining,
      ...(budget.windowSeconds === undefined ? {} : { windowSeconds: budget.windowSeconds }),
      ...(budget.source === undefined ? {} : { source: budget.source }),
      observedAt: new Date(this.#clock.now()).toISOString(),
    };
    return changed;
  }

  async backOff(seconds: number, reason: string): Promise<boolean> {
    const now = this.#clock.now();
    const wasBackingOff = this.#backoffUntil > now;
    this.#backoffUntil = Math.max(this.#backoffUntil, now + boundedBackoffSeconds(seconds) * 1000);
    this.#snapshot = {
      ...this.#snapshot,
      backoffUntil: new Date(this.#backoffUntil).toISOString(),
      backoffReason: reason,
    };
    return !wasBackingOff;
  }

  async snapshot(): Promise<RateLimitSnapshot> {
    if (this.#backoffUntil > this.#clock.now()) return { ...this.#snapshot };
    const { backoffUntil: _until, backoffReason: _reason, ...rest } = this.#snapshot;
    return rest;
  }
}
