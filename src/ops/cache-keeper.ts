import type { Logger } from "pino";
import type { IngestGuard } from "../coordination/ingest-guard.js";
import type { Turn } from "../coordination/turn.js";
import type { MetadataStore } from "../meta/metadata-store.js";
import type { BlobStore } from "../store/blob-store.js";
import { freeBytes } from "../store/disk-space.js";
import { type Clock, systemClock } from "../util/clock.js";
import { type CarriedOut, type EvictionScope, executeEviction, readEvictionInput } from "./eviction.js";
import { type EvictionPlan, type EvictionReason, planEviction } from "./eviction-plan.js";

/** What the store held when last measured: for /api/status, the metrics, and deciding whether to evict. */
export interface StoreSnapshot {
  readonly total: number;
  readonly repositories: Readonly<Record<string, number>>;
  /** Free bytes on the data directory's disk; undefined when it could not be read. */
  readonly freeBytes?: number;
  readonly measuredAt: number;
}

export interface KeeperRun {
  readonly snapshot: StoreSnapshot;
  /** Present when the bounds called for a plan. */
  readonly plan?: EvictionPlan;
  readonly carried: readonly CarriedOut[];
}

export interface KeeperEvents {
  /** One image left the cache (a log line and a metric each). */
  evicted?(done: CarriedOut): void;
  /** The store was measured. */
  measured?(snapshot: StoreSnapshot): void;
}

export interface CacheKeeperOptions {
  readonly meta: MetadataStore;
  readonly blobs: Pick<BlobStore, "delete">;
  readonly ingests: IngestGuard;
  /** Eviction's turn among the nodes sharing the stores: a node finding another evicting skips its plan. */
  readonly turn?: Turn;
  readonly scope: EvictionScope;
  readonly dataDir: string;
  readonly checkIntervalMs: number;
  /** Written before a plan, so it sees the pulls of the last minute too. */
  readonly usage?: { flush(): Promise<void> };
  readonly freeSpace?: (path: string) => Promise<number>;
  readonly clock?: Clock;
  readonly logger: Logger;
  readonly events?: KeeperEvents;
  /** The shortest time between two runs that triggers (a full disk, a store past its cap) ask for. */
  readonly triggerGapMs?: number;
}

/** `max_unused` is looked for this often at most: it counts in days, and a plan reads every repository. */
const UNUSED_SWEEP_MS = 3_600_000;
const DEFAULT_TRIGGER_GAP_MS = 5_000;
/** Free space a download nobody asked for must leave on the disk when no `min_free` is set. */
const AHEAD_DISK_RESERVE = 1024 ** 3;

/**
 * Keeps the store within its bounds in the background: measures it every `check_interval`, plans
 * and carries out an eviction when a bound is broken (and, hourly, when `max_unused` applies), and
 * runs early when told the disk filled up or a download pushed the store past its cap. One run at a
 * time; a request never waits for one.
 */
export class CacheKeeper {
  readonly #options: CacheKeeperOptions;
  readonly #clock: Clock;
  readonly #freeSpace: (path: string) => Promise<number>;
  #snapshot: StoreSnapshot | undefined;
  /** Bytes stored since the last measurement, for the triggers' estimate. */
  #grown = 0;
  #running: Promise<KeeperRun> | undefined;
  #pending: { reason: string; timer: NodeJS.Timeout | undefined } | undefined;
  #lastRunEnded = Number.NEGATIVE_INFINITY;
  #lastUnusedSweep = Number.NEGATIVE_INFINITY;
  #interval: NodeJS.Timeout | undefined;
  #unmet = "";
  #stopped = false;

  constructor(options: CacheKeeperOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#freeSpace = options.freeSpace ?? freeBytes;
  }

  /** The last measurement, once there is one. */
  get snapshot(): StoreSnapshot | undefined {
    return this.#snapshot;
  }

  /** Measures now and then every `check_interval`. */
  start(): void {
    if (this.#interval) return;
    this.#interval = setInterval(() => this.trigger("interval", true), this.#options.checkIntervalMs);
    this.#interval.unref();
    this.trigger("start", true);
  }

  /** Stops the schedule and waits for a run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#interval);
    clearTimeout(this.#pending?.timer);
    this.#pending = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** A download stored `bytes`: runs early when that takes the store past its cap or the disk under its floor. */
  grew(bytes: number): void {
    this.#grown += bytes;
    const snapshot = this.#snapshot;
    if (!snapshot) return;
    const { policy } = this.#options.scope;
    const total = snapshot.total + this.#grown;
    const free = snapshot.freeBytes === undefined ? undefined : snapshot.freeBytes - this.#grown;
    if (policy.maxSize !== undefined && total > policy.maxSize) this.trigger("the store grew past its cap");
    else if (policy.minFree !== undefined && free !== undefined && free < policy.minFree) {
      this.trigger("the disk went under its free-space floor");
    }
  }

  /**
   * Whether `bytes` more for `repo` fit without an eviction, by the last measurement and what was
   * stored since: under the store's cap and the repository's, and leaving the disk its floor
   * (`min_free`, or AHEAD_DISK_RESERVE when none is set). Unknown before the first measurement:
   * then only the disk is asked of, by its last reading, which there is none of yet, so yes.
   */
  hasRoomFor(repo: string, bytes: number): boolean {
    const snapshot = this.#snapshot;
    if (!snapshot) return true;
    const { policy } = this.#options.scope;
    const total = snapshot.total + this.#grown + bytes;
    if (policy.maxSize !== undefined && total > policy.maxSize) return false;
    const repoCap = policy.repositories.get(repo)?.maxSize;
    if (repoCap !== undefined && (snapshot.repositories[repo] ?? 0) + this.#grown + bytes > repoCap)
      return false;
    if (snapshot.freeBytes === undefined) return true;
    return snapshot.freeBytes - this.#grown - bytes >= (policy.minFree ?? AHEAD_DISK_RESERVE);
  }

  /**
   * Asks for a run soon (`now`: without the gap between triggered runs). While one runs, one more
   * follows it; asking again before that changes nothing.
   */
  trigger(reason: string, now = false): void {
    if (this.#stopped || this.#pending) return;
    const wait = now ? 0 : Math.max(0, this.#lastRunEnded + this.#gap() - this.#clock.now());
    const pending: { reason: string; timer: NodeJS.Timeout | undefined } = { reason, timer: undefined };
    this.#pending = pending;
    const go = () => {
      void this.#after().then(() => {
        if (this.#pending === pending) this.#pending = undefined;
        return this.run(reason).catch((error: unknown) =>
          this.#options.logger.error(
            { err: error, reason },
            "cache eviction failed; it runs again at the next check",
          ),
        );
      });
    };
    if (wait > 0) pending.timer = setTimeout(go, wait);
    else go();
  }

  #gap(): number {
    return this.#options.triggerGapMs ?? DEFAULT_TRIGGER_GAP_MS;
  }

  /** Settles when the run in progress (if any) did. */
  async #after(): Promise<void> {
    while (this.#running) await this.#running.catch(() => undefined);
  }

  /**
   * One run now (after the one in progress): measure, and evict if the bounds say so. `always`
   * plans even when no bound is broken, so `max_unused` is applied at once (a prune asked for).
   */
  async run(reason = "asked", options: { always?: boolean } = {}): Promise<KeeperRun> {
    // No await between seeing no run and starting this one: two callers never run together.
    while (this.#running) await this.#running.catch(() => undefined);
    const running = this.#run(reason, options.always === true);
    this.#running = running;
    try {
      return await running;
    } finally {
      this.#running = undefined;
      this.#lastRunEnded = this.#clock.now();
    }
  }

  async #run(reason: string, always: boolean): Promise<KeeperRun> {
    const { logger } = this.#options;
    const started = this.#clock.now();
    const measured = await this.#measure();
    const sweep = this.#clock.now() - this.#lastUnusedSweep >= UNUSED_SWEEP_MS && this.#hasMaxUnused();
    if (!always && !sweep && !this.#overBounds(measured)) return { snapshot: measured, carried: [] };
    if (sweep) this.#lastUnusedSweep = this.#clock.now();
    const turn = this.#options.turn;
    if (!turn) return this.#evict(reason, measured, started);
    let run: KeeperRun = { snapshot: measured, carried: [] };
    const alone = await turn.ifAlone(async () => {
      run = await this.#evict(reason, measured, started);
    });
    if (!alone) logger.debug({ reason }, "another node is evicting; this one leaves it the run");
    return run;
  }

  /** Plans against the measurement and carries the plan out. */
  async #evict(reason: string, measured: StoreSnapshot, started: number): Promise<KeeperRun> {
    const { meta, scope, logger } = this.#options;
    await this.#options.usage?.flush();
    const input = await readEvictionInput(meta, scope, {
      now: this.#clock.now(),
      ...(measured.freeBytes === undefined ? {} : { freeBytes: measured.freeBytes }),
    });
    const plan = planEviction(input);
    this.#reportUnmet(plan.unmet, measured);
    if (plan.evictions.length === 0) return { snapshot: measured, plan, carried: [] };
    logger.info(
      { reason, images: plan.evictions.length, bytes: plan.bytes, reasons: countReasons(plan) },
      "evicting cached images",
    );
    const carried = await executeEviction(plan.evictions, this.#options, (done) => {
      const { image, reason: why } = done.eviction;
      logger.info(
        {
          repo: image.repo,
          name: image.name,
          digest: image.digest,
          tags: image.tags,
          lastUsed: new Date(image.lastUsed).toISOString(),
          neverPulled: image.pulled ? undefined : true,
          reason: why,
          bytes: done.bytes,
        },
        "evicted image",
      );
      this.#options.events?.evicted?.(done);
    });
    const snapshot = await this.#measure();
    logger.info(
      {
        images: carried.length,
        bytes: carried.reduce((sum, done) => sum + done.bytes, 0),
        total: snapshot.total,
        ms: this.#clock.now() - started,
      },
      "eviction done",
    );
    return { snapshot, plan, carried };
  }

  async #measure(): Promise<StoreSnapshot> {
    const content = await this.#options.meta.measureContent();
    let free: number | undefined;
    try {
      free = await this.#freeSpace(this.#options.dataDir);
    } catch (error) {
      this.#options.logger.warn(
        { err: error, dataDir: this.#options.dataDir },
        "cannot read the free space of the data directory's disk",
      );
    }
    this.#grown = 0;
    const snapshot: StoreSnapshot = {
      total: content.total,
      repositories: content.repositories,
      ...(free === undefined ? {} : { freeBytes: free }),
      measuredAt: this.#clock.now(),
    };
    this.#snapshot = snapshot;
    this.#options.events?.measured?.(snapshot);
    return snapshot;
  }

  #hasMaxUnused(): boolean {
    for (const bounds of this.#options.scope.policy.repositories.values())
      if (bounds.maxUnusedMs !== undefined) return true;
    return false;
  }

  #overBounds(snapshot: StoreSnapshot): boolean {
    const { policy } = this.#options.scope;
    if (policy.maxSize !== undefined && snapshot.total > policy.maxSize) return true;
    if (
      policy.minFree !== undefined &&
      snapshot.freeBytes !== undefined &&
      snapshot.freeBytes < policy.minFree
    )
      return true;
    for (const [repo, bounds] of policy.repositories) {
      if (bounds.maxSize !== undefined && (snapshot.repositories[repo] ?? 0) > bounds.maxSize) return true;
    }
    return false;
  }

  /** Bounds eviction cannot keep: said once when that changes, not at every check. */
  #reportUnmet(unmet: readonly EvictionReason[], snapshot: StoreSnapshot): void {
    const key = [...unmet].sort().join(",");
    if (key === this.#unmet) return;
    this.#unmet = key;
    if (key === "") this.#options.logger.info("the store is within its bounds again");
    else
      this.#options.logger.warn(
        { bounds: unmet, total: snapshot.total, freeBytes: snapshot.freeBytes },
        "eviction cannot keep these bounds: what is left is pinned, hosted or needed by an upload or download",
      );
  }
}

function countReasons(plan: EvictionPlan): Partial<Record<EvictionReason, number>> {
  const counts: Partial<Record<EvictionReason, number>> = {};
  for (const { reason } of plan.evictions) counts[reason] = (counts[reason] ?? 0) + 1;
  return counts;
}
