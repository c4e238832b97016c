import { request } from "undici";
import { z } from "zod";

// What `wharf status` reads from a running instance: /healthz, /readyz, /api/status and /metrics.
// The schemas are tolerant readers (unknown fields are dropped, optional ones may be missing), so
// this command can ask an older or newer wharf. Fields marked "when reported" are filled by later
// parts of the server (eviction, usage metrics); until an instance sends them, they stay absent
// rather than being guessed from something else.

const check = z.object({ ok: z.boolean(), error: z.string().optional() });
const readinessSchema = z.object({ ready: z.boolean(), checks: z.record(z.string(), check) });

const rateLimit = z.object({
  limit: z.number().optional(),
  remaining: z.number().optional(),
  windowSeconds: z.number().optional(),
  backoffUntil: z.string().optional(),
  backoffReason: z.string().optional(),
});

/** Bytes held against a cap (when reported): per repository and for the whole store. */
const storeUsage = z.object({
  bytes: z.number(),
  cap: z.number().optional(),
  /** Free bytes on the data directory's disk, and the floor to keep (whole store only). */
  freeBytes: z.number().optional(),
  floorBytes: z.number().optional(),
});

/** Cache outcomes and the bytes they moved (when reported): `bytesServed - bytesFetched` is what the cache saved. */
const cacheTotals = z.object({
  hits: z.number(),
  misses: z.number(),
  bytesServed: z.number(),
  bytesFetched: z.number(),
});

const repositorySchema = z.object({
  name: z.string(),
  type: z.string(),
  upstream: z.object({ url: z.string(), rateLimit: rateLimit.optional() }).optional(),
  store: storeUsage.optional(),
  cache: cacheTotals.optional(),
});

const apiStatusSchema = z.object({
  version: z.string(),
  uptimeSeconds: z.number(),
  defaultRepository: z.string().nullable().optional(),
  repositories: z.array(repositorySchema),
  store: storeUsage.optional(),
  cache: cacheTotals.optional(),
});

export type Readiness = z.infer<typeof readinessSchema>;
export type ApiStatus = z.infer<typeof apiStatusSchema>;
export type StoreUsage = z.infer<typeof storeUsage>;
export type CacheTotals = z.infer<typeof cacheTotals>;

/** Requests answered per cache outcome (`none` for requests without one), from `wharf_http_requests_total`. */
export type RequestCounts = Record<string, number>;

/** Everything `wharf status` found out; `--json` prints it as it is. */
export interface InstanceStatus {
  readonly url: string;
  readonly reachable: boolean;
  /** Why it is unreachable, or what could not be read. */
  readonly errors: readonly string[];
  /** `/healthz` answered 200. */
  readonly alive: boolean;
  /** `/readyz` answered 200. */
  readonly ready: boolean;
  readonly readiness?: Readiness;
  readonly status?: ApiStatus;
  /** By repository name; `""` for requests no repository answered (e.g. /v2/ itself). */
  readonly requests?: Readonly<Record<string, RequestCounts>>;
}

const TIMEOUT_MS = 5000;

async function get(url: string): Promise<{ status: number; text: string }> {
  const response = await request(url, {
    headersTimeout: TIMEOUT_MS,
    bodyTimeout: TIMEOUT_MS,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  return { status: response.statusCode, text: await response.body.text() };
}

function reason(error: unknown): string {
  if (error instanceof Error) {
    const code =
      (error.cause as NodeJS.ErrnoException | undefined)?.code ?? (error as NodeJS.ErrnoException).code;
    return code ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

/** One sample of Prometheus' text format: `name{label="value",…} number`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a Prometheus text exposition; comments and malformed lines are skipped. */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = SAMPLE.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? "").matchAll(LABEL)) {
      labels[key as string] = (raw as string).replace(/\\(.)/g, (_all, c: string) => (c === "n" ? "\n" : c));
    }
    const value = Number(match[3]);
    if (Number.isFinite(value)) samples.push({ name: match[1] as string, labels, value });
  }
  return samples;
}

/** `wharf_http_requests_total` summed by repository and cache outcome. */
export function requestCounts(samples: readonly Sample[]): Record<string, RequestCounts> {
  const byRepo: Record<string, RequestCounts> = {};
  for (const sample of samples) {
    if (sample.name !== "wharf_http_requests_total") continue;
    const repo = sample.labels.repo ?? "";
    const outcome = sample.labels.cache || "none";
    const counts = byRepo[repo] ?? {};
    counts[outcome] = (counts[outcome] ?? 0) + sample.value;
    byRepo[repo] = counts;
  }
  return byRepo;
}

/**
 * Asks a running wharf how it is. Never throws for the instance's sake: an unreachable or
 * half-answering instance is a status too, with the errors that say why.
 */
export async function fetchInstanceStatus(url: string): Promise<InstanceStatus> {
  const errors: string[] = [];
  let health: { status: number };
  try {
    health = await get(`${url}/healthz`);
  } catch (error) {
    return { url, reachable: false, errors: [reason(error)], alive: false, ready: false };
  }
  const [ready, status, metrics] = await Promise.all(
    ["/readyz", "/api/status", "/metrics"].map((path) =>
      get(`${url}${path}`).catch((error: unknown) => {
        errors.push(`${path}: ${reason(error)}`);
        return undefined;
      }),
    ),
  );
  const parsed = <T>(path: string, schema: z.ZodType<T>, text: string | undefined): T | undefined => {
    if (text === undefined) return undefined;
    try {
      return schema.parse(JSON.parse(text));
    } catch (error) {
      errors.push(
        `${path}: not what wharf answers (${error instanceof Error ? error.message.split("\n")[0] : error})`,
      );
      return undefined;
    }
  };
  const readiness = parsed("/readyz", readinessSchema, ready?.text);
  const apiStatus = parsed("/api/status", apiStatusSchema, status?.status === 200 ? status.text : undefined);
  if (status && status.status !== 200) errors.push(`/api/status answered ${status.status}`);
  return {
    url,
    reachable: true,
    errors,
    alive: health.status === 200,
    ready: ready?.status === 200,
    ...(readiness ? { readiness } : {}),
    ...(apiStatus ? { status: apiStatus } : {}),
    ...(metrics?.status === 200 ? { requests: requestCounts(parseMetrics(metrics.text)) } : {}),
  };
}
