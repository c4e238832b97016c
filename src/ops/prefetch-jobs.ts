import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { type Clock, systemClock } from "../util/clock.js";
import type { ActivityLog } from "./activity.js";
import type { PulledThrough } from "./pull-through.js";

export interface PrefetchJob {
  readonly id: string;
  readonly repo: string;
  readonly name: string;
  readonly reference: string;
  readonly user: string | undefined;
  readonly startedAt: number;
  state: "running" | "done" | "failed";
  finishedAt?: number;
  result?: PulledThrough;
  error?: string;
}

/** Jobs remembered for their starter to look at; older ones are forgotten. */
const KEPT = 100;

/**
 * Prefetches asked for through the admin API, run in the background (an image can take minutes)
 * and remembered, in this process, for their starter to follow. Each one ends as an activity event.
 */
export class PrefetchJobs {
  readonly #jobs = new Map<string, PrefetchJob>();
  readonly #activity: ActivityLog;
  readonly #logger: Logger;
  readonly #clock: Clock;

  constructor(activity: ActivityLog, logger: Logger, clock: Clock = systemClock) {
    this.#activity = activity;
    this.#logger = logger;
    this.#clock = clock;
  }

  start(
    what: { repo: string; name: string; reference: string; user: string | undefined },
    work: () => Promise<PulledThrough>,
  ): PrefetchJob {
    const job: PrefetchJob = { id: randomUUID(), ...what, startedAt: this.#clock.now(), state: "running" };
    this.#jobs.set(job.id, job);
    for (const id of this.#jobs.keys()) {
      if (this.#jobs.size <= KEPT) break;
      this.#jobs.delete(id);
    }
    work().then(
      (result) => {
        job.state = "done";
        job.result = result;
        job.finishedAt = this.#clock.now();
        this.#activity.record({
          kind: "prefetch",
          repo: what.repo,
          name: what.name,
          reference: what.reference,
          ...(what.user ? { user: what.user } : {}),
          bytes: result.bytesFetched,
        });
        this.#logger.info(
          { repo: what.repo, name: what.name, reference: what.reference, ...result },
          "prefetched",
        );
      },
      (error: unknown) => {
        job.state = "failed";
        job.error = error instanceof Error ? error.message : String(error);
        job.finishedAt = this.#clock.now();
        this.#logger.warn(
          { err: error, repo: what.repo, name: what.name, reference: what.reference },
          "prefetch failed",
        );
      },
    );
    return job;
  }

  get(id: string): PrefetchJob | undefined {
    return this.#jobs.get(id);
  }
}
