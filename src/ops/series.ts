import type { Logger } from "pino";
import {
  HOUR_MS,
  MINUTE_MS,
  type OpsRecords,
  type SeriesResolution,
  type SeriesSample,
} from "../meta/ops-records.js";
import { type Clock, systemClock } from "../util/clock.js";

/** How long each resolution is kept. */
export const SERIES_SPAN: Readonly<Record<SeriesResolution, number>> = {
  minute: 24 * HOUR_MS,
  hour: 30 * 24 * HOUR_MS,
};

/** One repository's counters since the process started. */
export interface TrafficTotals {
  readonly hits: number;
  readonly misses: number;
  readonly bytesServed: number;
  readonly bytesFetched: number;
}

/** What the sampler reads each minute: wharf's own counters, and each upstream's last budget. */
export interface SeriesSources {
  traffic(): Promise<Readonly<Record<string, TrafficTotals>>>;
  budgets(): Promise<Readonly<Record<string, { readonly remaining?: number; readonly limit?: number }>>>;
}

const ZERO: TrafficTotals = { hits: 0, misses: 0, bytesServed: 0, bytesFetched: 0 };

/** Counters only grow; one that shrank was reset (a new registry), so all of it is new. */
function since(now: TrafficTotals, before: TrafficTotals): TrafficTotals {
  const delta = (a: number, b: number) => (a >= b ? a - b : a);
  return {
    hits: delta(now.hits, before.hits),
    misses: delta(now.misses, before.misses),
    bytesServed: delta(now.bytesServed, before.bytesServed),
    bytesFetched: delta(now.bytesFetched, before.bytesFetched),
  };
}

/**
 * Samples wharf's own counters once a minute into the metadata store (a row per repository and
 * minute, summed into hours), so the dashboard can draw a day per minute and a month per hour
 * without a Prometheus, and a restart keeps the history. Only what changed is written: a quiet
 * repository costs nothing. The counters start at zero with the process, so the first minute
 * after a start counts what it served since the start.
 */
export class SeriesSampler {
  readonly #records: OpsRecords;
  readonly #sources: SeriesSources;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #previous: Record<string, TrafficTotals> = {};
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(records: OpsRecords, sources: SeriesSources, logger: Logger, clock: Clock = systemClock) {
    this.#records = records;
    this.#sources = sources;
    this.#logger = logger;
    this.#clock = clock;
  }

  /** Samples at every minute's start from now on. */
  start(): void {
    const schedule = () => {
      const now = this.#clock.now();
      const ended = now - (now % MINUTE_MS);
      this.#timer = setTimeout(
        () => {
          this.#running = this.sample(ended).finally(() => {
            this.#running = undefined;
          });
          schedule();
        },
        MINUTE_MS - (now % MINUTE_MS),
      );
      this.#timer.unref();
    };
    schedule();
  }

  /** Stops the schedule and writes what the current minute has counted so far. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
    await this.sample();
  }

  /**
   * Writes what changed since the last sample under the minute starting at `at` (by default the
   * current one), and forgets what is older than the spans kept. Never throws: a sample that
   * cannot be written is logged, and its counts go into the next one.
   */
  async sample(at = this.#clock.now() - (this.#clock.now() % MINUTE_MS)): Promise<void> {
    const now = this.#clock.now();
    try {
      const [traffic, budgets] = await Promise.all([this.#sources.traffic(), this.#sources.budgets()]);
      const samples: SeriesSample[] = [];
      for (const repo of new Set([...Object.keys(traffic), ...Object.keys(budgets)])) {
        const delta = since(traffic[repo] ?? ZERO, this.#previous[repo] ?? ZERO);
        const budget = budgets[repo];
        const moved = delta.hits + delta.misses + delta.bytesServed + delta.bytesFetched > 0;
        if (!moved && budget?.remaining === undefined) continue;
        samples.push({
          at,
          repo,
          ...delta,
          ...(budget?.remaining === undefined ? {} : { budgetRemaining: budget.remaining }),
          ...(budget?.limit === undefined ? {} : { budgetLimit: budget.limit }),
        });
      }
      if (samples.length > 0) await this.#records.recordSamples(samples);
      this.#previous = { ...traffic };
      await this.#records.trimSamples(now - SERIES_SPAN.minute, now - SERIES_SPAN.hour);
    } catch (error) {
      this.#logger.warn({ err: error }, "cannot record the minute's traffic; it is added to the next");
    }
  }
}

export interface SeriesPoint {
  readonly at: number;
  readonly hits: number;
  readonly misses: number;
  readonly bytesServed: number;
  readonly bytesFetched: number;
  readonly budgetRemaining: number | null;
  readonly budgetLimit: number | null;
}

/**
 * The series of some repositories as one: a point for every interval of the span up to now (an
 * interval with no row is a quiet one), counts summed, the budget the lowest any of them reported.
 */
export async function readSeries(
  records: OpsRecords,
  resolution: SeriesResolution,
  repositories: ReadonlySet<string>,
  now: number,
): Promise<SeriesPoint[]> {
  const step = resolution === "minute" ? MINUTE_MS : HOUR_MS;
  const last = now - (now % step);
  const first = last - SERIES_SPAN[resolution] + step;
  const byInterval = new Map<number, SeriesSample[]>();
  for (const sample of await records.listSamples(resolution, first)) {
    if (!repositories.has(sample.repo)) continue;
    byInterval.set(sample.at, [...(byInterval.get(sample.at) ?? []), sample]);
  }
  const points: SeriesPoint[] = [];
  for (let at = first; at <= last; at += step) {
    const samples = byInterval.get(at) ?? [];
    const budgets = samples.filter((s) => s.budgetRemaining !== undefined);
    const lowest = budgets.reduce<SeriesSample | undefined>(
      (low, s) => (low === undefined || (s.budgetRemaining ?? 0) < (low.budgetRemaining ?? 0) ? s : low),
      undefined,
    );
    points.push({
      at,
      hits: samples.reduce((sum, s) => sum + s.hits, 0),
      misses: samples.reduce((sum, s) => sum + s.misses, 0),
      bytesServed: samples.reduce((sum, s) => sum + s.bytesServed, 0),
      bytesFetched: samples.reduce((sum, s) => sum + s.bytesFetched, 0),
      budgetRemaining: lowest?.budgetRemaining ?? null,
      budgetLimit: lowest?.budgetLimit ?? null,
    });
  }
  return points;
}
