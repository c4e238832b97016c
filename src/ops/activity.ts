import type { Logger } from "pino";
import { MINUTE_MS, type NewActivity, type OpsRecords } from "../meta/ops-records.js";
import { type Clock, systemClock } from "../util/clock.js";

/** Events kept: a few weeks of a busy site's pushes, evictions and refusals. */
export const ACTIVITY_KEPT = 10_000;
/** Events wait this long in memory, so a burst is one write. */
const FLUSH_MS = 2000;
/** A flood (refused logins) must not grow the buffer without bound: past this, events are counted, not kept. */
const MAX_BUFFERED = 1000;

export type ActivityEvent = Omit<NewActivity, "at" | "count"> & { readonly count?: number };

/**
 * The dashboard's "recent activity": pushes, first pulls of new content, deletes, evictions and
 * refused logins, written in batches (never on the request's path) and trimmed to the newest
 * ACTIVITY_KEPT. Refused logins of one user name in one minute are one event with a count, so a
 * password-guessing flood is a few rows, not one per attempt.
 */
export class ActivityLog {
  readonly #records: OpsRecords;
  readonly #logger: Logger;
  readonly #clock: Clock;
  #pending: NewActivity[] = [];
  readonly #refusals = new Map<string, number>();
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(records: OpsRecords, logger: Logger, clock: Clock = systemClock) {
    this.#records = records;
    this.#logger = logger;
    this.#clock = clock;
  }

  record(event: ActivityEvent): void {
    const at = this.#clock.now();
    const key =
      event.kind === "login-refused"
        ? `${at - (at % MINUTE_MS)}\n${event.user ?? ""}\n${event.detail ?? ""}`
        : undefined;
    const index = key === undefined ? undefined : this.#refusals.get(key);
    const folded = index === undefined ? undefined : this.#pending[index];
    if (index !== undefined && folded) {
      this.#pending[index] = { ...folded, count: folded.count + (event.count ?? 1) };
      return;
    }
    if (this.#pending.length >= MAX_BUFFERED) {
      this.#dropped++;
      return;
    }
    if (key !== undefined) this.#refusals.set(key, this.#pending.length);
    this.#pending.push({ ...event, at, count: event.count ?? 1 });
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, FLUSH_MS);
    this.#timer.unref();
  }

  /** Writes what is buffered; resolves once written (or logged as lost). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    const dropped = this.#dropped;
    this.#pending = [];
    this.#refusals.clear();
    this.#dropped = 0;
    this.#flushing = this.#flushing.then(async () => {
      if (dropped > 0)
        this.#logger.warn({ dropped }, "activity events arrived faster than they could be kept");
      if (batch.length === 0) return;
      try {
        await this.#records.appendActivity(batch);
        await this.#records.trimActivity(ACTIVITY_KEPT);
      } catch (error) {
        this.#logger.warn({ err: error, events: batch.length }, "cannot record activity");
      }
    });
    return this.#flushing;
  }
}
