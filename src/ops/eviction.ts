import { setImmediate as nextTurn } from "node:timers/promises";
import type { Config } from "../config/schema.js";
import type { IngestGuard } from "../coordination/ingest-guard.js";
import type { MetadataStore } from "../meta/metadata-store.js";
import type { BlobStore } from "../store/blob-store.js";
import { cachedImages, digestsHeldBy, sizesIn } from "./cached-images.js";
import { contentSlices } from "./content-slices.js";
import type { Eviction, EvictionPolicy, PlanInput } from "./eviction-plan.js";
import { deleteUnneeded } from "./gc.js";

/** What eviction may touch: proxy repositories with their pins. Everything else only holds content. */
export interface EvictionScope {
  readonly policy: EvictionPolicy;
  /** Each proxy repository's `keep` patterns (an empty list for none). */
  readonly proxies: ReadonlyMap<string, readonly string[]>;
}

/** The configuration's bounds and pins, as eviction reads them. */
export function evictionScopeOf(config: Pick<Config, "repositories" | "cache">): EvictionScope {
  const repositories = new Map<string, { maxSize?: number; maxUnusedMs?: number }>();
  const proxies = new Map<string, readonly string[]>();
  for (const [name, repository] of Object.entries(config.repositories)) {
    if (repository.type !== "proxy") continue;
    proxies.set(name, repository.keep ?? []);
    repositories.set(name, {
      ...(repository.max_size === undefined ? {} : { maxSize: repository.max_size }),
      ...(repository.max_unused === undefined ? {} : { maxUnusedMs: repository.max_unused }),
    });
  }
  const { cache } = config;
  return {
    policy: {
      repositories,
      lowWater: cache.low_water,
      ...(cache.max_size === undefined ? {} : { maxSize: cache.max_size }),
      ...(cache.min_free === undefined ? {} : { minFree: cache.min_free }),
    },
    proxies,
  };
}

/**
 * Reads what the planner needs: the images of every proxy repository, and what every other
 * repository in metadata (hosted ones, and any no longer configured) holds, which is never freed.
 */
export async function readEvictionInput(
  meta: Pick<MetadataStore, "listRepositories" | "listNames" | "listContent">,
  scope: EvictionScope,
  facts: { now: number; freeBytes?: number },
): Promise<PlanInput> {
  const images: PlanInput["images"][number][] = [];
  const sizes = new Map<string, number>();
  const held = new Set<string>();
  const repositories = new Set([...(await meta.listRepositories()), ...scope.proxies.keys()]);
  for (const repo of repositories) {
    const keep = scope.proxies.get(repo);
    for await (const slice of contentSlices(meta, repo)) {
      sizesIn(slice, sizes);
      // One at a time: spread into push, a slice's hundreds of thousands of images overflow the stack.
      if (keep) for (const image of cachedImages(repo, slice, keep)) images.push(image);
      else for (const digest of digestsHeldBy(slice)) held.add(digest);
    }
  }
  return {
    now: facts.now,
    images,
    sizes,
    held,
    ...(facts.freeBytes === undefined ? {} : { freeBytes: facts.freeBytes }),
    policy: scope.policy,
  };
}

export interface CarriedOut {
  readonly eviction: Eviction;
  /** The files actually deleted for it; one an ingest or a new link needs stays and is not here. */
  readonly deleted: ReadonlyArray<{ readonly digest: string; readonly size: number }>;
  readonly bytes: number;
}

export interface EvictionDeps {
  readonly meta: MetadataStore;
  readonly blobs: Pick<BlobStore, "delete">;
  readonly ingests: IngestGuard;
}

/** Images whose metadata goes in one transaction: short enough that requests waiting on the database hardly notice. */
const BATCH = 100;

/**
 * Carries out evictions in order. Per batch, first the metadata in one transaction (tags still
 * pointing at the image, its manifests, its blob links), then, after the commit, each freed file,
 * checked once more against metadata and in-flight ingests inside the guard's turn.
 *
 * Why a pull racing this is safe: a request that read a manifest before the commit finds its
 * blobs unlinked afterwards and fetches them again (or adopts a file still there after a HEAD
 * upstream), so it gets the whole image either way; a download or push committing a digest while
 * its file is being deleted holds it in the guard, and the deletion either waits for its link (and
 * then keeps the file) or runs first (and the ingest then stores its own bytes). Between batches
 * the event loop turns, so requests are served meanwhile.
 */
export async function executeEviction(
  evictions: readonly Eviction[],
  deps: EvictionDeps,
  onEvicted: (done: CarriedOut) => void = () => {},
): Promise<CarriedOut[]> {
  const done: CarriedOut[] = [];
  for (let start = 0; start < evictions.length; start += BATCH) {
    const batch = evictions.slice(start, start + BATCH);
    await deps.meta.transaction(async (tx) => {
      for (const { image, manifests, links } of batch) {
        const { repo, name } = image;
        for (const tag of image.tags) {
          // A tag moved since the plan belongs to another image now.
          if ((await tx.getTag(repo, name, tag))?.digest === image.digest)
            await tx.deleteTag(repo, name, tag);
        }
        for (const digest of manifests) await tx.deleteManifest(repo, name, digest);
        for (const digest of links) await tx.unlinkBlob(repo, name, digest);
      }
    });
    for (const eviction of batch) {
      const deleted: Array<{ digest: string; size: number }> = [];
      for (const file of eviction.files) {
        if (await deleteUnneeded(deps.meta, deps.blobs, deps.ingests, file.digest)) deleted.push(file);
      }
      const carried = { eviction, deleted, bytes: deleted.reduce((sum, file) => sum + file.size, 0) };
      done.push(carried);
      onEvicted(carried);
    }
    await nextTurn();
  }
  return done;
}
