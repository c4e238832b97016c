import type { Logger } from "pino";
import { type Descriptor, parseManifest } from "../oci/manifest.js";
import { isNonDistributable } from "../oci/media-types.js";
import { FillCancelledError } from "../store/fill.js";
import type { Clock } from "../util/clock.js";
import type { BackgroundDownload } from "./proxy-blobs.js";

export interface FetchAheadSettings {
  /** Downloads no client asked for yet that run at once in one repository. */
  readonly concurrency: number;
  /**
   * An image name no client asked anything of (a manifest, a blob, a blob still being sent) for
   * this long is abandoned: what is queued for it is dropped, and what runs for it alone is cancelled.
   */
  readonly idleMs: number;
}

/**
 * Whether the store may take `bytes` more for `repo` without an eviction: under the store's and
 * the repository's caps and above the disk's floor. A download nobody asked for must not make
 * room for itself by evicting what someone pulled.
 */
export type AheadRoom = (repo: string, bytes: number) => boolean;

/** Where fetch-ahead gets its downloads: the proxy's blobs (`ProxyBlobs.ahead`). */
export type AheadSource = (name: string, digest: string) => Promise<BackgroundDownload | undefined>;

export interface FetchAheadOptions {
  readonly repo: string;
  readonly settings: FetchAheadSettings;
  readonly source: AheadSource;
  readonly room?: AheadRoom;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * Blobs this big are fetched ahead one after another, in the manifest's order: downloading them
 * together on what they share (the upstream's bandwidth, its disk, this machine's CPU) would slow
 * the one a client asks for first, while one after another they keep ahead of a client reading
 * them in order. Smaller ones cost latency more than bandwidth and go `concurrency` at a time.
 * A client asking for several at once (dockerd's three) starts its own downloads and never waits.
 */
const BIG_BLOB_BYTES = 4 * 1024 * 1024;

/** After an upstream failure, nothing is fetched ahead in the repository for this long. */
const PAUSE_AFTER_FAILURE_MS = 30_000;

interface Job {
  readonly name: string;
  readonly blob: Descriptor;
}

interface Running {
  readonly job: Job;
  readonly download: BackgroundDownload;
}

/** What clients do with one image name: requests in progress, and when the last one was seen. */
interface Activity {
  active: number;
  lastSeen: number;
}

const jobKey = (name: string, digest: string): string => `${name}\n${digest}`;

/**
 * Layers fetched ahead (issue 11). When a proxy serves an image manifest it fetched or revalidated
 * upstream, the image's config and layers not cached yet are downloaded, a few at a time, in the
 * manifest's order, through the same path as a client's request (`ProxyBlobs.ahead`: the
 * coalescer, so one download per blob whoever asks first; the fill's verification; the ingest
 * guard; the link once stored). A client asking for layer 2 then finds it downloading or done.
 *
 * A download nobody asked for is worth starting only while it is likely to be wanted and cheap to
 * keep, and this is the policy:
 *
 * - the client went away: an image name nobody asked anything of for `idleMs` (no manifest or
 *   blob request, no blob still being sent) is abandoned; its queue is dropped, and its running
 *   downloads that no client joined are cancelled (nothing of them is kept);
 * - the upstream (or the disk) fails: a failed download drops the image's queue and pauses fetching ahead in
 *   the repository for 30 s; a client's own request still goes upstream as ever;
 * - the disk or a cap is near: a blob that does not fit (`AheadRoom`) is not fetched ahead, and a
 *   download whose staging fails (a full disk) ends at once, since nobody reads it;
 * - a slow upstream: downloads still start, at most `concurrency` at a time (and big blobs one at
 *   a time, see BIG_BLOB_BYTES); a slow upstream is where starting early pays most, and a client's
 *   request never waits for a slot (it starts or joins its own download at once).
 *
 * A download that started and is wanted runs to the end, like a client's whose client left.
 */
export class FetchAhead {
  readonly #options: FetchAheadOptions;
  readonly #queue: Job[] = [];
  /** Queued or running, by name and digest: a blob is scheduled once. */
  readonly #scheduled = new Set<string>();
  readonly #running = new Set<Running>();
  /** Downloads asked for whose upstream answer has not come yet: they take a slot too. */
  #opening = 0;
  /** Big blobs being fetched ahead (opening or receiving): one at a time. */
  #big = 0;
  readonly #activity = new Map<string, Activity>();
  #pausedUntil = Number.NEGATIVE_INFINITY;
  #sweeper: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: FetchAheadOptions) {
    this.#options = options;
  }

  /** Downloads it runs now, or is opening. */
  get running(): number {
    return this.#opening + this.#running.size;
  }

  /** Blobs waiting for a slot. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * A manifest was served to a client after it was fetched or revalidated upstream: an image's
   * blobs are queued (an index's platform manifests are not: only those clients ask for count).
   */
  manifestServed(name: string, bytes: Buffer, mediaType: string): void {
    this.touch(name);
    if (this.#stopped || this.#paused()) return;
    let blobs: readonly Descriptor[];
    try {
      const info = parseManifest(bytes, mediaType);
      if (info.kind !== "image") return;
      blobs = info.blobs;
    } catch {
      return;
    }
    for (const blob of blobs) {
      const key = jobKey(name, blob.digest);
      // Non-distributable layers are fetched from their own URLs, never from the registry.
      if (isNonDistributable(blob.mediaType) || this.#scheduled.has(key)) continue;
      this.#scheduled.add(key);
      this.#queue.push({ name, blob });
    }
    this.#pump();
  }

  /** A client asked something of `name` (a manifest, a blob HEAD). */
  touch(name: string): void {
    const activity = this.#activityOf(name);
    activity.lastSeen = this.#options.clock.now();
  }

  /** A client's blob request of `name` began; the returned function says it ended (its body was released). */
  requestStarted(name: string): () => void {
    const activity = this.#activityOf(name);
    activity.active++;
    activity.lastSeen = this.#options.clock.now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      activity.active--;
      activity.lastSeen = this.#options.clock.now();
    };
  }

  /**
   * Drops what is queued for abandoned images and cancels their downloads no client joined. A timer
   * calls it while anything is queued or running; tests on a manual clock call it themselves.
   */
  sweep(): void {
    for (const running of [...this.#running]) {
      if (this.#abandoned(running.job.name)) this.#cancel(running, "the client that caused it went away");
    }
    this.#pump();
    this.#forgetIdle();
  }

  /** Stops for good: drops the queue and cancels every download no client joined. */
  stop(): void {
    this.#stopped = true;
    this.#drop(() => true);
    for (const running of [...this.#running]) this.#cancel(running, "wharf is stopping");
    this.#stopSweeping();
  }

  #pump(): void {
    const { settings } = this.#options;
    while (!this.#stopped && this.#opening + this.#running.size < settings.concurrency) {
      const index = this.#queue.findIndex((job) => job.blob.size < BIG_BLOB_BYTES || this.#big === 0);
      if (index < 0) break;
      const [job] = this.#queue.splice(index, 1) as [Job];
      if (this.#worthStarting(job)) void this.#start(job);
      else this.#scheduled.delete(jobKey(job.name, job.blob.digest));
    }
    if (this.#queue.length > 0 || this.#opening + this.#running.size > 0) this.#keepSweeping();
    else this.#stopSweeping();
  }

  #worthStarting(job: Job): boolean {
    if (this.#paused() || this.#abandoned(job.name)) return false;
    const { room, repo } = this.#options;
    return room === undefined || room(repo, job.blob.size);
  }

  async #start(job: Job): Promise<void> {
    const key = jobKey(job.name, job.blob.digest);
    // Counted before the first await, so the pump never starts more than its slots.
    this.#opening++;
    const big = job.blob.size >= BIG_BLOB_BYTES;
    if (big) this.#big++;
    let running: Running | undefined;
    try {
      const download = await this.#options.source(job.name, job.blob.digest).finally(() => this.#opening--);
      if (!download) return;
      running = { job, download };
      this.#running.add(running);
      if (this.#stopped || this.#abandoned(job.name))
        this.#cancel(running, "the client that caused it went away");
      // The slot is free once the bytes are in and verified: storing them (an fsync) is not
      // what the next download waits for.
      const failure = await download.fill.downloaded.then(
        () => undefined,
        (error: unknown) => error,
      );
      if (failure !== undefined && !(failure instanceof FillCancelledError)) this.#failed(job, failure);
    } catch (error) {
      this.#failed(job, error);
    } finally {
      if (running) this.#running.delete(running);
      if (big) this.#big--;
      this.#scheduled.delete(key);
      this.#pump();
    }
  }

  #cancel(running: Running, reason: string): void {
    const { download } = running;
    // Only what this started and nobody reads: a client's download is never cut for fetch-ahead.
    if (!download.started || download.fill.readerCount > 0 || download.fill.state !== "filling") return;
    // Logged by the download itself, as any that ends without being kept.
    download.fill.cancel(reason);
  }

  #failed(job: Job, error: unknown): void {
    const { repo, logger, clock } = this.#options;
    const wasPaused = this.#paused();
    this.#pausedUntil = clock.now() + PAUSE_AFTER_FAILURE_MS;
    this.#drop((queued) => queued.name === job.name);
    if (!wasPaused)
      logger.warn(
        {
          repo,
          name: job.name,
          digest: job.blob.digest,
          reason: error instanceof Error ? error.message : String(error),
        },
        `fetching ahead paused for ${PAUSE_AFTER_FAILURE_MS / 1000} s: a download failed`,
      );
  }

  #drop(which: (job: Job) => boolean): void {
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const job = this.#queue[i] as Job;
      if (!which(job)) continue;
      this.#queue.splice(i, 1);
      this.#scheduled.delete(jobKey(job.name, job.blob.digest));
    }
  }

  #paused(): boolean {
    return this.#options.clock.now() < this.#pausedUntil;
  }

  #abandoned(name: string): boolean {
    const activity = this.#activity.get(name);
    if (!activity) return true;
    return (
      activity.active === 0 && this.#options.clock.now() - activity.lastSeen >= this.#options.settings.idleMs
    );
  }

  #activityOf(name: string): Activity {
    let activity = this.#activity.get(name);
    if (!activity) {
      activity = { active: 0, lastSeen: this.#options.clock.now() };
      this.#activity.set(name, activity);
    }
    return activity;
  }

  /** Names nothing is queued or running for, and that went idle: their activity is of no use now. */
  #forgetIdle(): void {
    const busy = new Set([...this.#queue, ...[...this.#running].map((r) => r.job)].map((job) => job.name));
    for (const name of [...this.#activity.keys()]) {
      if (!busy.has(name) && this.#abandoned(name)) this.#activity.delete(name);
    }
  }

  #keepSweeping(): void {
    if (this.#sweeper) return;
    const every = Math.max(100, Math.min(5_000, this.#options.settings.idleMs / 2));
    this.#sweeper = setInterval(() => this.sweep(), every);
    this.#sweeper.unref();
  }

  #stopSweeping(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#forgetIdle();
  }
}
