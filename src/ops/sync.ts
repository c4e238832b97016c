import type { Logger } from "pino";
import type { SyncConfig } from "../config/schema.js";
import { type Platform, parsePlatform } from "../oci/platform.js";
import type { Repository } from "../repos/repository.js";
import { type Clock, systemClock } from "../util/clock.js";
import { pullThrough } from "./pull-through.js";
import { needsTagList, selectTags } from "./tag-selection.js";

/** One `sync:` entry of one proxy repository. */
export interface SyncJob {
  readonly repo: string;
  readonly entry: SyncConfig;
}

export interface SyncRun {
  readonly startedAt: string;
  readonly finishedAt: string;
  /** ok: every chosen tag is fresh and whole; paused: the budget ran low; failed: some tag could not be synced. */
  readonly result: "ok" | "paused" | "failed";
  /** Tags chosen and looked at (before a pause). */
  readonly tags: number;
  /** Tags whose content was new here (a new tag, or one that moved). */
  readonly pulled: readonly string[];
  /** Blobs downloaded from upstream. */
  readonly blobsFetched: number;
  /** Why it paused or failed. */
  readonly reason?: string;
}

/** What /api/status shows of one entry. */
export interface SyncStatus {
  readonly image: string;
  readonly intervalSeconds: number;
  readonly reserve: number;
  readonly lastRun?: SyncRun;
  readonly nextRunAt?: string;
}

/** The upstream's budget is below the reserve (or it is backing off): stop, and try at the next run. */
class BudgetLow extends Error {}

export interface ImageSyncOptions {
  readonly repositories: ReadonlyMap<string, Repository>;
  readonly jobs: readonly SyncJob[];
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly events?: { ran?(job: SyncJob, run: SyncRun): void };
}

/**
 * Keeps chosen images of proxy repositories fresh on a schedule, pulling through the repository
 * as a client's pull would (so content, links, freshness and eviction's view are the same): each
 * chosen tag by tag (within its TTL that costs nothing, after it a HEAD; a new or moved tag one
 * GET), the platform manifests it lists, every blob. Before each counted request the upstream's
 * remaining budget is looked at, and below the entry's reserve the run pauses, so people's pulls
 * never starve behind it. One run at a time, all entries taking turns.
 */
export class ImageSync {
  readonly #options: ImageSyncOptions;
  readonly #clock: Clock;
  readonly #last = new Map<SyncJob, SyncRun>();
  readonly #next = new Map<SyncJob, number>();
  readonly #timers = new Map<SyncJob, NodeJS.Timeout>();
  /** Runs take turns: each waits for the one before. */
  #queue: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(options: ImageSyncOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Runs every entry now, then each again `interval` after its run ended. */
  start(): void {
    for (const job of this.#options.jobs) this.#schedule(job, 0);
  }

  /** Cancels what is scheduled and waits for a run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await this.#queue.catch(() => undefined);
  }

  /** Each repository's entries with their last run, for /api/status. */
  status(): Map<string, SyncStatus[]> {
    const byRepo = new Map<string, SyncStatus[]>();
    for (const job of this.#options.jobs) {
      const last = this.#last.get(job);
      const next = this.#next.get(job);
      const status: SyncStatus = {
        image: job.entry.image,
        intervalSeconds: Math.round(job.entry.interval / 1000),
        reserve: job.entry.reserve,
        ...(last ? { lastRun: last } : {}),
        ...(next === undefined ? {} : { nextRunAt: new Date(next).toISOString() }),
      };
      byRepo.set(job.repo, [...(byRepo.get(job.repo) ?? []), status]);
    }
    return byRepo;
  }

  #schedule(job: SyncJob, delayMs: number): void {
    if (this.#stopped) return;
    this.#next.set(job, this.#clock.now() + delayMs);
    const timer = setTimeout(() => {
      this.#timers.delete(job);
      void this.run(job).finally(() => this.#schedule(job, job.entry.interval));
    }, delayMs);
    timer.unref();
    this.#timers.set(job, timer);
  }

  /** One run of `job`, after any run in progress. Never rejects: a failure is the run's result. */
  run(job: SyncJob): Promise<SyncRun> {
    const running = this.#queue.then(() => this.#run(job));
    this.#queue = running.catch(() => undefined);
    return running;
  }

  async #run(job: SyncJob): Promise<SyncRun> {
    const { repositories, logger } = this.#options;
    const started = this.#clock.now();
    const pulled: string[] = [];
    let tags = 0;
    let blobsFetched = 0;
    let failure: string | undefined;
    let paused: string | undefined;
    const repository = repositories.get(job.repo);
    try {
      if (!repository) throw new Error(`no repository ${job.repo}`);
      const checkBudget = () => this.#checkBudget(repository, job.entry.reserve);
      await checkBudget();
      const chosen = selectTags(
        job.entry,
        needsTagList(job.entry) ? await allTags(repository, job.entry.image) : [],
      );
      for (const tag of chosen) {
        // Before each tag: its GET (when it is new or moved) is a counted pull.
        await checkBudget();
        tags++;
        try {
          const synced = await this.#syncTag(repository, job, tag, checkBudget);
          if (synced.pulled) pulled.push(tag);
          blobsFetched += synced.blobsFetched;
        } catch (error) {
          if (error instanceof BudgetLow) throw error;
          failure ??= `${tag}: ${error instanceof Error ? error.message : String(error)}`;
          logger.warn({ err: error, repo: job.repo, image: job.entry.image, tag }, "cannot sync tag");
        }
      }
    } catch (error) {
      if (error instanceof BudgetLow) paused = error.message;
      else failure = error instanceof Error ? error.message : String(error);
    }
    const run: SyncRun = {
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(this.#clock.now()).toISOString(),
      result: paused !== undefined ? "paused" : failure !== undefined ? "failed" : "ok",
      tags,
      pulled,
      blobsFetched,
      ...((paused ?? failure) === undefined ? {} : { reason: paused ?? failure }),
    };
    this.#last.set(job, run);
    logger.info({ repo: job.repo, image: job.entry.image, ...run }, "sync run");
    this.#options.events?.ran?.(job, run);
    return run;
  }

  /** Pulls one tag whole through the repository; `pulled` when its manifest was not here yet. */
  async #syncTag(
    repository: Repository,
    job: SyncJob,
    tag: string,
    checkBudget: () => Promise<void>,
  ): Promise<{ pulled: boolean; blobsFetched: number }> {
    const platforms = job.entry.platforms?.map(parsePlatform).filter((p): p is Platform => p !== undefined);
    const pulled = await pullThrough(
      repository,
      job.entry.image,
      { kind: "tag", tag },
      {
        ...(platforms ? { platforms } : {}),
        beforeCounted: checkBudget,
      },
    );
    return { pulled: pulled.pulled, blobsFetched: pulled.blobsFetched };
  }

  async #checkBudget(repository: Repository, reserve: number): Promise<void> {
    const described = await repository.describe();
    if (described.type !== "proxy") return;
    const { remaining, backoffUntil } = described.upstream.rateLimit;
    if (backoffUntil !== undefined && Date.parse(backoffUntil) > this.#clock.now()) {
      throw new BudgetLow(`the upstream is backing off until ${backoffUntil}`);
    }
    if (remaining !== undefined && remaining < reserve) {
      throw new BudgetLow(`${remaining} pulls left upstream, under the reserve of ${reserve}`);
    }
  }
}

/** Every tag the repository lists for `image` (the upstream's list, for a proxy), all pages. */
async function allTags(repository: Repository, image: string): Promise<string[]> {
  const tags: string[] = [];
  let last: string | undefined;
  for (;;) {
    const page = await repository.listTags(image, last === undefined ? {} : { last });
    tags.push(...page.tags);
    if (!page.more || page.tags.length === 0) return tags;
    last = page.tags.at(-1);
  }
}

/** The sync jobs of a configuration: every proxy repository's `sync:` entries. */
export function syncJobsOf(
  repositories: Readonly<Record<string, { type: string; sync?: readonly SyncConfig[] }>>,
): SyncJob[] {
  return Object.entries(repositories).flatMap(([repo, repository]) =>
    repository.type === "proxy" ? (repository.sync ?? []).map((entry) => ({ repo, entry })) : [],
  );
}
