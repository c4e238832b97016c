/**
 * What can go wrong when wharf asks an upstream registry. `kind` is what callers branch on:
 * only `unavailable` and `rate-limited` justify serving stale content; `not-found` is an answer.
 */
export type UpstreamFailureKind = "not-found" | "unauthorized" | "rate-limited" | "unavailable" | "invalid";

export class UpstreamError extends Error {
  readonly kind: UpstreamFailureKind;
  readonly upstream: string;
  /** The upstream's HTTP status, when it answered at all. */
  readonly status: number | undefined;
  /** Seconds the upstream asked us to wait (429/503 `Retry-After`). */
  readonly retryAfterSeconds: number | undefined;
  /** The upstream's own OCI error body, kept for the client when it explains a refusal. */
  readonly body: unknown;

  constructor(
    kind: UpstreamFailureKind,
    message: string,
    options: {
      upstream: string;
      status?: number;
      retryAfterSeconds?: number;
      body?: unknown;
      cause?: unknown;
    },
  ) {
    super(message, { cause: options.cause });
    this.name = "UpstreamError";
    this.kind = kind;
    this.upstream = options.upstream;
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.body = options.body;
  }

  /** True when a cached copy may stand in for the upstream's answer (stale-if-error). */
  get allowsStale(): boolean {
    return this.kind === "unavailable" || this.kind === "rate-limited" || this.kind === "unauthorized";
  }
}

/** Classifies an HTTP status from an upstream. */
export function failureKindOf(status: number): UpstreamFailureKind {
  if (status === 404) return "not-found";
  if (status === 401 || status === 403) return "unauthorized";
  if (status === 429) return "rate-limited";
  if (status >= 500) return "unavailable";
  return "invalid";
}

/** `Retry-After` is seconds or an HTTP date; anything unreadable falls back to the caller's default. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === "") return undefined;
  if (/^\d+$/.test(text.trim())) return Number.parseInt(text.trim(), 10);
  // Only an HTTP-date names a weekday and a month; anything else ("1.5", "-1") is unreadable.
  if (!/[a-z]{3}/i.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}
