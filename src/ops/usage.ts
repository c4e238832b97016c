import type { Logger } from "pino";
import type { MetadataStore, UsageBatch } from "../meta/metadata-store.js";
import { type Clock, systemClock } from "../util/clock.js";

/** What the request path reports as it serves content; never waits for a disk. */
export interface UsageSink {
  /** A manifest was served. `tag`: it was asked for by that tag. `counted`: a GET (a HEAD only marks the use). */
  manifestServed(
    repo: string,
    name: string,
    digest: string,
    options: { tag?: string; counted: boolean },
  ): void;
  blobServed(repo: string, name: string, digest: string): void;
}

/** For `usage.enabled: false`: nothing is recorded, eviction orders images by when they were cached. */
export const NO_USAGE: UsageSink = { manifestServed: () => {}, blobServed: () => {} };

type Entry<K extends keyof UsageBatch> = {
  -readonly [F in keyof UsageBatch[K][number]]: UsageBatch[K][number][F];
};

/** Pending usage, keyed so repeated pulls of one thing add up in one entry. */
class Pending {
  readonly manifests = new Map<string, Entry<"manifests">>();
  readonly tags = new Map<string, Entry<"tags">>();
  readonly blobs = new Map<string, Entry<"blobs">>();

  get size(): number {
    return this.manifests.size + this.tags.size + this.blobs.size;
  }

  manifest(repo: string, name: string, digest: string, pulls: number, at: number): void {
    add(this.manifests, `${repo}\n${name}\n${digest}`, { repo, name, digest, pulls, at });
  }

  tag(repo: string, name: string, tag: string, pulls: number, at: number): void {
    add(this.tags, `${repo}\n${name}\n${tag}`, { repo, name, tag, pulls, at });
  }

  blob(repo: string, name: string, digest: string, at: number): void {
    const key = `${repo}\n${name}\n${digest}`;
    const entry = this.blobs.get(key);
    if (entry) entry.at = Math.max(entry.at, at);
    else this.blobs.set(key, { repo, name, digest, at });
  }

  /** Takes back a batch that could not be written, so its counts are not lost. */
  restore(batch: UsageBatch): void {
    for (const m of batch.manifests) this.manifest(m.repo, m.name, m.digest, m.pulls, m.at);
    for (const t of batch.tags) this.tag(t.repo, t.name, t.tag, t.pulls, t.at);
    for (const b of batch.blobs) this.blob(b.repo, b.name, b.digest, b.at);
  }

  batch(): UsageBatch {
    return {
      manifests: [...this.manifests.values()],
      tags: [...this.tags.values()],
      blobs: [...this.blobs.values()],
    };
  }
}

function add<T extends { pulls: number; at: number }>(map: Map<string, T>, key: string, entry: T): void {
  const existing = map.get(key);
  if (!existing) {
    map.set(key, entry);
    return;
  }
  existing.pulls += entry.pulls;
  existing.at = Math.max(existing.at, entry.at);
}

export interface UsageRecorderOptions {
  readonly meta: Pick<MetadataStore, "recordUsage">;
  /** How often pending usage is written: the precision of "last pulled". */
  readonly flushIntervalMs: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/**
 * Usage kept in memory and written in one transaction per flush (every `flushIntervalMs`, before
 * an eviction plans, and at shutdown), so a warm pull costs a map update and no disk write. What a
 * crash loses is what arrived since the last flush: at most one interval of last-pulled times.
 */
export class UsageRecorder implements UsageSink {
  readonly #meta: Pick<MetadataStore, "recordUsage">;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  readonly #intervalMs: number;
  #pending = new Pending();
  /** The flush in progress; the next one waits for it. */
  #flushing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: UsageRecorderOptions) {
    this.#meta = options.meta;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger;
    this.#intervalMs = options.flushIntervalMs;
  }

  /** Entries waiting for the next flush. */
  get pending(): number {
    return this.#pending.size;
  }

  manifestServed(
    repo: string,
    name: string,
    digest: string,
    options: { tag?: string; counted: boolean },
  ): void {
    const now = this.#clock.now();
    const pulls = options.counted ? 1 : 0;
    this.#pending.manifest(repo, name, digest, pulls, now);
    if (options.tag !== undefined) this.#pending.tag(repo, name, options.tag, pulls, now);
  }

  blobServed(repo: string, name: string, digest: string): void {
    this.#pending.blob(repo, name, digest, this.#clock.now());
  }

  /** Writes what is pending. A batch that fails is kept for the next flush; this never rejects. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write());
    return this.#flushing;
  }

  async #write(): Promise<void> {
    if (this.#pending.size === 0) return;
    const taken = this.#pending;
    this.#pending = new Pending();
    const batch = taken.batch();
    try {
      await this.#meta.recordUsage(batch);
    } catch (error) {
      this.#pending.restore(batch);
      this.#logger?.error({ err: error, entries: taken.size }, "cannot record usage; kept for the next try");
    }
  }

  /** Flushes every interval until `stop`. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.flush(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and writes what is pending: call before the metadata store closes. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
