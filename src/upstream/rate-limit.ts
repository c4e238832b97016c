/**
 * Docker Hub's pull budget as the upstream reports it (`ratelimit-limit: 100;w=21600`,
 * `ratelimit-remaining: 76;w=21600`) and the back-off wharf imposes on itself after a 429.
 */
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

export interface RateLimitHeaders {
  limit: number;
  remaining: number;
  windowSeconds: number | undefined;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parseQuota(value: string | undefined): { amount: number; window: number | undefined } | undefined {
  if (value === undefined) return undefined;
  const match = /^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?/.exec(value);
  if (!match) return undefined;
  return { amount: Number(match[1]), window: match[2] === undefined ? undefined : Number(match[2]) };
}

export function parseRateLimitHeaders(
  headers: Record<string, string | string[] | undefined>,
): RateLimitHeaders | undefined {
  const limit = parseQuota(first(headers["ratelimit-limit"]));
  const remaining = parseQuota(first(headers["ratelimit-remaining"]));
  if (!limit || !remaining) return undefined;
  return {
    limit: limit.amount,
    remaining: remaining.amount,
    windowSeconds: limit.window ?? remaining.window,
  };
}

const MAX_BACKOFF_SECONDS = 86_400;

/** The rate-limit state of one upstream. Mutated only by its client; read by status and metrics. */
export class RateLimitState {
  #snapshot: RateLimitSnapshot = {};
  #backoffUntil = 0;

  /** Records headers; returns true when the remaining budget changed (worth one log line). */
  observe(headers: Record<string, string | string[] | undefined>, now = Date.now()): boolean {
    const parsed = parseRateLimitHeaders(headers);
    if (!parsed) return false;
    const changed = parsed.remaining !== this.#snapshot.remaining || parsed.limit !== this.#snapshot.limit;
    const source = first(headers["docker-ratelimit-source"]);
    this.#snapshot = {
      ...this.#snapshot,
      limit: parsed.limit,
      remaining: parsed.remaining,
      ...(parsed.windowSeconds === undefined ? {} : { windowSeconds: parsed.windowSeconds }),
      ...(source === undefined ? {} : { source }),
      observedAt: new Date(now).toISOString(),
    };
    return changed;
  }

  backOff(seconds: number, reason: string, now = Date.now()): void {
    // An upstream may ask for anything in Retry-After; a day is longer than any real rate-limit window.
    const bounded = Math.min(Math.max(0, seconds), MAX_BACKOFF_SECONDS);
    this.#backoffUntil = Math.max(this.#backoffUntil, now + bounded * 1000);
    this.#snapshot = {
      ...this.#snapshot,
      backoffUntil: new Date(this.#backoffUntil).toISOString(),
      backoffReason: reason,
    };
  }

  /** Seconds left in the current back-off, 0 when requests may go out. */
  backoffRemaining(now = Date.now()): number {
    return this.#backoffUntil > now ? Math.ceil((this.#backoffUntil - now) / 1000) : 0;
  }

  snapshot(now = Date.now()): RateLimitSnapshot {
    if (this.#backoffUntil > now) return { ...this.#snapshot };
    const { backoffUntil: _until, backoffReason: _reason, ...rest } = this.#snapshot;
    return rest;
  }
}
