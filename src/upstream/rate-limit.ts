import type { PullBudget } from "../coordination/upstream-state.js";

/**
 * Docker Hub's pull budget as the upstream reports it (`ratelimit-limit: 100;w=21600`,
 * `ratelimit-remaining: 76;w=21600`, `docker-ratelimit-source: 203.0.113.7`). What wharf does
 * with it lives in coordination/upstream-state.ts.
 */
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

/** The budget a response reports, with whom it is counted for; undefined when it reports none. */
export function pullBudgetOf(headers: Record<string, string | string[] | undefined>): PullBudget | undefined {
  const parsed = parseRateLimitHeaders(headers);
  return parsed && { ...parsed, source: first(headers["docker-ratelimit-source"]) };
}
