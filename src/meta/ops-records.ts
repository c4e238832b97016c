/**
 * What the operator's side keeps about the running service, beside the content metadata: a
 * bounded time series of wharf's own counters and a bounded log of notable events, so the
 * dashboard shows history without Prometheus and it survives restarts.
 */

/** One repository's traffic in one interval (a minute, or an hour as the sum of its minutes). */
export interface SeriesSample {
  /** The interval's start, ms since epoch (a whole minute or hour). */
  readonly at: number;
  readonly repo: string;
  readonly hits: number;
  readonly misses: number;
  readonly bytesServed: number;
  readonly bytesFetched: number;
  /** The lowest pull budget its upstream reported in the interval; absent when none did. */
  readonly budgetRemaining?: number;
  readonly budgetLimit?: number;
}

export type SeriesResolution = "minute" | "hour";

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

export const ACTIVITY_KINDS = [
  "push",
  "first-pull",
  "delete",
  "eviction",
  "login-refused",
  "prefetch",
] as const;
export type ActivityKind = (typeof ACTIVITY_KINDS)[number];

/** Something worth showing an operator: who did what to which image, when. */
export interface NewActivity {
  readonly at: number;
  readonly kind: ActivityKind;
  readonly repo?: string;
  readonly name?: string;
  /** A tag or a digest. */
  readonly reference?: string;
  readonly user?: string;
  readonly bytes?: number;
  /** Repetitions folded into this event (refused logins of one minute); 1 otherwise. */
  readonly count: number;
  readonly detail?: string;
}

export interface ActivityRecord extends NewActivity {
  /** Increases with every event: newest first is highest first. */
  readonly id: number;
}

export interface OpsRecords {
  /**
   * Adds per-minute samples: each becomes its minute's row and is added into its hour's row
   * (counts add up, the budget keeps the lowest remaining and the highest limit). A minute
   * recorded twice adds up too.
   */
  recordSamples(samples: readonly SeriesSample[]): Promise<void>;
  /** Samples of intervals starting at or after `since`, oldest first. */
  listSamples(resolution: SeriesResolution, since: number): Promise<SeriesSample[]>;
  /** Forgets minute rows older than `minutesBefore` and hour rows older than `hoursBefore`. */
  trimSamples(minutesBefore: number, hoursBefore: number): Promise<void>;

  appendActivity(events: readonly NewActivity[]): Promise<void>;
  /** Newest first: at most `limit` events with an id below `before`, of `repo` when given. */
  listActivity(query: { limit: number; before?: number; repo?: string }): Promise<ActivityRecord[]>;
  /** Keeps only the newest `keep` events. */
  trimActivity(keep: number): Promise<void>;
}

/** The hour a minute belongs to. */
export function hourOf(at: number): number {
  return at - (at % HOUR_MS);
}

/** Two samples of one interval and repository as one: what the hour rows hold. */
export function addSamples(into: SeriesSample, more: SeriesSample): SeriesSample {
  const lowest = [into.budgetRemaining, more.budgetRemaining].filter((v): v is number => v !== undefined);
  const highest = [into.budgetLimit, more.budgetLimit].filter((v): v is number => v !== undefined);
  return {
    at: into.at,
    repo: into.repo,
    hits: into.hits + more.hits,
    misses: into.misses + more.misses,
    bytesServed: into.bytesServed + more.bytesServed,
    bytesFetched: into.bytesFetched + more.bytesFetched,
    ...(lowest.length > 0 ? { budgetRemaining: Math.min(...lowest) } : {}),
    ...(highest.length > 0 ? { budgetLimit: Math.max(...highest) } : {}),
  };
}

/**
 * A metadata implementation that hands the operator's records to what keeps them: they change
 * nothing a metadata lookup returns, so no store does anything of its own with them.
 */
export abstract class ForwardedOpsRecords implements OpsRecords {
  protected abstract readonly opsRecords: OpsRecords;

  recordSamples(samples: readonly SeriesSample[]): Promise<void> {
    return this.opsRecords.recordSamples(samples);
  }

  listSamples(resolution: SeriesResolution, since: number): Promise<SeriesSample[]> {
    return this.opsRecords.listSamples(resolution, since);
  }

  trimSamples(minutesBefore: number, hoursBefore: number): Promise<void> {
    return this.opsRecords.trimSamples(minutesBefore, hoursBefore);
  }

  appendActivity(events: readonly NewActivity[]): Promise<void> {
    return this.opsRecords.appendActivity(events);
  }

  listActivity(query: { limit: number; before?: number; repo?: string }): Promise<ActivityRecord[]> {
    return this.opsRecords.listActivity(query);
  }

  trimActivity(keep: number): Promise<void> {
    return this.opsRecords.trimActivity(keep);
  }
}
