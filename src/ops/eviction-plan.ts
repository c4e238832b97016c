import type { CachedImage } from "./cached-images.js";

/** The bounds eviction keeps, from the configuration. */
export interface EvictionPolicy {
  /** Per proxy repository: `max_size` and `max_unused`. */
  readonly repositories: ReadonlyMap<string, { readonly maxSize?: number; readonly maxUnusedMs?: number }>;
  /** The whole store (`cache.max_size`). */
  readonly maxSize?: number;
  /** Free bytes to keep on the data directory's disk (`cache.min_free`). */
  readonly minFree?: number;
  /** Once over a cap, evict down to this fraction of it (and up to `minFree / lowWater` free). */
  readonly lowWater: number;
}

export interface PlanInput {
  readonly now: number;
  /** Every image of every proxy repository, pinned ones included (they hold what they share). */
  readonly images: readonly CachedImage[];
  /** The size of every digest the images and `held` name. */
  readonly sizes: ReadonlyMap<string, number>;
  /** Digests something other than these images needs (hosted repositories, unconfigured ones): never freed. */
  readonly held: ReadonlySet<string>;
  /** Free bytes on the data directory's disk now, when known. */
  readonly freeBytes?: number;
  readonly policy: EvictionPolicy;
}

export type EvictionReason = "unused" | "repository-cap" | "store-cap" | "disk-floor";

export interface Eviction {
  readonly image: CachedImage;
  readonly reason: EvictionReason;
  /** Manifests of `image.repo`/`image.name` whose metadata goes (not those another image still holds). */
  readonly manifests: readonly string[];
  /** Blob links of `image.repo`/`image.name` that go. */
  readonly links: readonly string[];
  /** Files nothing needs once this eviction and those before it are done. */
  readonly files: ReadonlyArray<{ readonly digest: string; readonly size: number }>;
  /** Bytes those files free on disk. */
  readonly bytes: number;
  /** Bytes the repository's share drops by. */
  readonly repositoryBytes: number;
}

export interface StoreUsage {
  /** Bytes in the store, each digest once. */
  readonly total: number;
  /** Each repository's share: its own digests, once each. */
  readonly repositories: Readonly<Record<string, number>>;
  readonly freeBytes?: number;
}

export interface EvictionPlan {
  /** In the order to carry them out. */
  readonly evictions: readonly Eviction[];
  /** Bytes freed on disk by the whole plan. */
  readonly bytes: number;
  readonly before: StoreUsage;
  readonly after: StoreUsage;
  /** Bounds still broken once every evictable image is gone (pins, hosted content, a disk full of other things). */
  readonly unmet: readonly EvictionReason[];
}

type Key = string;
const manifestKey = (image: CachedImage, digest: string): Key => `m\n${image.repo}\n${image.name}\n${digest}`;
const linkKey = (image: CachedImage, digest: string): Key => `l\n${image.repo}\n${image.name}\n${digest}`;

/** Least recently used first; ties in a fixed order, so a plan is reproducible. */
function leastRecentFirst(a: CachedImage, b: CachedImage): number {
  return (
    a.lastUsed - b.lastUsed ||
    compare(a.repo, b.repo) ||
    compare(a.name, b.name) ||
    compare(a.digest, b.digest)
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Reference counts over the images: which metadata rows each holds, which files each row keeps
 * (a manifest keeps itself and what it references, a link its blob), each repository's share.
 * Evicting an image releases its rows; a row goes when no remaining image holds it, a file when
 * no remaining row and nothing held outside keeps it.
 */
class Ledger {
  readonly #sizes: ReadonlyMap<string, number>;
  readonly #held: ReadonlySet<string>;
  readonly #rows = new Map<Key, number>();
  readonly #keepers = new Map<string, number>();
  readonly #shares = new Map<string, Map<string, number>>();
  readonly #repositoryBytes = new Map<string, number>();
  total = 0;
  freeBytes: number | undefined;

  constructor(input: PlanInput) {
    this.#sizes = input.sizes;
    this.#held = input.held;
    this.freeBytes = input.freeBytes;
    for (const image of input.images) {
      for (const m of image.manifests) {
        if (this.#take(manifestKey(image, m.digest))) {
          this.#share(image.repo, m.digest, +1);
          for (const child of new Set(m.children)) this.#keep(child, +1);
        }
      }
      for (const digest of image.blobs)
        if (this.#take(linkKey(image, digest))) this.#share(image.repo, digest, +1);
    }
    for (const digest of this.#held) this.total += this.size(digest);
  }

  size(digest: string): number {
    return this.#sizes.get(digest) ?? 0;
  }

  repositoryBytes(repo: string): number {
    return this.#repositoryBytes.get(repo) ?? 0;
  }

  usage(): StoreUsage {
    return {
      total: this.total,
      repositories: Object.fromEntries([...this.#repositoryBytes].sort(([a], [b]) => compare(a, b))),
      ...(this.freeBytes === undefined ? {} : { freeBytes: this.freeBytes }),
    };
  }

  /** Releases what `image` holds; returns what went with it. */
  release(image: CachedImage, reason: EvictionReason): Eviction {
    const manifests: string[] = [];
    const links: string[] = [];
    const files: Array<{ digest: string; size: number }> = [];
    const before = this.repositoryBytes(image.repo);
    for (const m of image.manifests) {
      if (!this.#drop(manifestKey(image, m.digest))) continue;
      manifests.push(m.digest);
      this.#share(image.repo, m.digest, -1, files);
      for (const child of new Set(m.children)) this.#keep(child, -1, files);
    }
    for (const digest of image.blobs) {
      if (!this.#drop(linkKey(image, digest))) continue;
      links.push(digest);
      this.#share(image.repo, digest, -1, files);
    }
    const bytes = files.reduce((sum, file) => sum + file.size, 0);
    return {
      image,
      reason,
      manifests,
      links,
      files,
      bytes,
      repositoryBytes: before - this.repositoryBytes(image.repo),
    };
  }

  /** Counts one more holder of a row; true when it is the first. */
  #take(key: Key): boolean {
    const count = this.#rows.get(key) ?? 0;
    this.#rows.set(key, count + 1);
    return count === 0;
  }

  /** Counts one holder less; true when it was the last (the row goes). */
  #drop(key: Key): boolean {
    const count = (this.#rows.get(key) ?? 0) - 1;
    this.#rows.set(key, count);
    return count === 0;
  }

  /** A row of `repo` for `digest` comes or goes: the repository's share, and the file it keeps. */
  #share(repo: string, digest: string, delta: 1 | -1, freed?: Array<{ digest: string; size: number }>): void {
    let share = this.#shares.get(repo);
    if (!share) {
      share = new Map();
      this.#shares.set(repo, share);
    }
    const count = (share.get(digest) ?? 0) + delta;
    share.set(digest, count);
    if ((delta === 1 && count === 1) || count === 0) {
      this.#repositoryBytes.set(repo, this.repositoryBytes(repo) + delta * this.size(digest));
    }
    this.#keep(digest, delta, freed);
  }

  /** One keeper of a file more or less; the last one gone frees it unless it is held outside. */
  #keep(digest: string, delta: 1 | -1, freed?: Array<{ digest: string; size: number }>): void {
    const count = (this.#keepers.get(digest) ?? 0) + delta;
    this.#keepers.set(digest, count);
    if (delta === 1 && count === 1 && !this.#held.has(digest)) this.total += this.size(digest);
    if (count === 0 && !this.#held.has(digest)) {
      const size = this.size(digest);
      this.total -= size;
      if (this.freeBytes !== undefined) this.freeBytes += size;
      freed?.push({ digest, size });
    }
  }
}

/**
 * What to evict, in order, to keep the policy's bounds. Pure: images, sizes and bounds in, a plan
 * out. First every image unused for longer than its repository's `max_unused`; then, for each
 * repository over its `max_size`, its least recently used images until its share is down to the
 * low-water mark; then, while the store is over `cache.max_size` or the disk under `min_free`, the
 * least recently used images of all proxy repositories until both are back past the low-water mark.
 * Pinned images are never chosen; a file shared with a remaining image or held outside stays.
 */
export function planEviction(input: PlanInput): EvictionPlan {
  const { policy } = input;
  const ledger = new Ledger(input);
  const before = ledger.usage();
  const candidates = input.images.filter((image) => !image.pinned).sort(leastRecentFirst);
  const evicted = new Set<CachedImage>();
  const evictions: Eviction[] = [];
  const evict = (image: CachedImage, reason: EvictionReason) => {
    evicted.add(image);
    evictions.push(ledger.release(image, reason));
  };
  for (const image of candidates) {
    const maxUnusedMs = policy.repositories.get(image.repo)?.maxUnusedMs;
    if (maxUnusedMs !== undefined && input.now - image.lastUsed > maxUnusedMs) evict(image, "unused");
  }
  const unmet = new Set<EvictionReason>();
  for (const [repo, bounds] of policy.repositories) {
    const { maxSize } = bounds;
    if (maxSize === undefined || ledger.repositoryBytes(repo) <= maxSize) continue;
    for (const image of candidates) {
      if (ledger.repositoryBytes(repo) <= maxSize * policy.lowWater) break;
      if (image.repo === repo && !evicted.has(image)) evict(image, "repository-cap");
    }
    if (ledger.repositoryBytes(repo) > maxSize) unmet.add("repository-cap");
  }
  const overStore = (factor: number) =>
    policy.maxSize !== undefined && ledger.total > policy.maxSize * factor;
  const underFloor = (factor: number) =>
    policy.minFree !== undefined &&
    ledger.freeBytes !== undefined &&
    ledger.freeBytes < policy.minFree / factor;
  if (overStore(1) || underFloor(1)) {
    for (const image of candidates) {
      if (!overStore(policy.lowWater) && !underFloor(policy.lowWater)) break;
      if (!evicted.has(image)) evict(image, overStore(policy.lowWater) ? "store-cap" : "disk-floor");
    }
    if (overStore(1)) unmet.add("store-cap");
    if (underFloor(1)) unmet.add("disk-floor");
  }
  return {
    evictions,
    bytes: evictions.reduce((sum, eviction) => sum + eviction.bytes, 0),
    before,
    after: ledger.usage(),
    unmet: [...unmet],
  };
}
