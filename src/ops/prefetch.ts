import { createDigester, parseDigest } from "../oci/digest.js";
import { formatImageReference, type ImageReference, manifestReference } from "../oci/image-reference.js";
import { type Descriptor, type ManifestInfo, parseManifest } from "../oci/manifest.js";
import { isNonDistributable } from "../oci/media-types.js";
import { type Platform, platformMatches } from "../oci/platform.js";
import type { PullClient, PullTarget } from "./pull-client.js";

/** One blob an image needs, as its manifest describes it. */
export interface PrefetchBlob {
  /** The image it is pulled for (the first that needed it, when several share it). */
  readonly image: string;
  readonly digest: string;
  /** From the manifest; -1 where it gives none (schema 1). */
  readonly size: number;
}

/** How wharf produced a blob: from its store (`cached`), from upstream (`fetched`), or it did not say. */
export type BlobOutcome = "cached" | "fetched" | "served";

export interface PrefetchEvents {
  /** An image's manifests are read: these are the blobs still to pull for it. */
  onImage?(image: string, blobs: readonly PrefetchBlob[]): void;
  onBlobStart?(blob: PrefetchBlob): void;
  onBlobProgress?(blob: PrefetchBlob, received: number): void;
  /** A blob arrived whole: `bytes` as received (what a schema 1 manifest does not say). */
  onBlobDone?(blob: PrefetchBlob, outcome: BlobOutcome, bytes: number): void;
  /** An image whose manifests could not be read, or a blob that did not arrive whole. */
  onFailure?(image: string, digest: string | undefined, error: Error): void;
}

export interface PrefetchSummary {
  readonly images: number;
  readonly failedImages: number;
  /** Distinct blobs pulled whole, and the bytes they hold. */
  readonly blobs: number;
  readonly bytes: number;
  /** Of those bytes, how many wharf had to fetch from upstream. */
  readonly fetchedBytes: number;
  readonly failedBlobs: number;
  readonly ms: number;
}

export interface PrefetchOptions {
  readonly client: PullClient;
  /** Only these platforms of an index; all of them when absent. */
  readonly platforms?: readonly Platform[];
  /** Blobs pulled at once; docker's max-concurrent-downloads default. */
  readonly concurrency?: number;
  readonly events?: PrefetchEvents;
}

/** `docker.io/library/alpine` goes to `/v2/library/alpine?ns=docker.io`; a bare path goes as written. */
function targetOf(image: ImageReference): PullTarget {
  return image.registry === undefined ? { name: image.name } : { name: image.name, ns: image.registry };
}

const CACHED: ReadonlySet<string> = new Set(["hit", "revalidated", "stale"]);

/** Indexes of indexes exist (attestations, nested lists); deeper than this is a loop or an attack. */
const MAX_INDEX_DEPTH = 4;

/**
 * Fills a running wharf's cache by pulling through it as a client would: each image's manifest
 * by tag, the platform manifests an index lists (those asked for, or all), then every config and
 * layer, read to the end and checked against its size and digest. A blob several images share is
 * pulled once. Failures are reported as events and counted; the rest goes on.
 */
export async function prefetch(
  images: readonly ImageReference[],
  options: PrefetchOptions,
): Promise<PrefetchSummary> {
  const started = performance.now();
  const events = options.events ?? {};
  const seen = new Set<string>();
  let failedImages = 0;
  let blobs = 0;
  let bytes = 0;
  let fetchedBytes = 0;
  let failedBlobs = 0;
  for (const image of images) {
    const label = formatImageReference(image);
    const target = targetOf(image);
    let needed: PrefetchBlob[];
    try {
      const infos = await readManifests(
        options.client,
        target,
        manifestReference(image),
        options.platforms,
        0,
      );
      needed = blobsOf(infos, label).filter((blob) => {
        const key = `${target.ns ?? ""}\n${target.name}\n${blob.digest}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    } catch (error) {
      failedImages++;
      events.onFailure?.(label, undefined, asError(error));
      continue;
    }
    events.onImage?.(label, needed);
    let imageFailed = false;
    await inParallel(needed, options.concurrency ?? 3, async (blob) => {
      try {
        const pulled = await pullBlob(options.client, target, blob, events);
        blobs++;
        bytes += pulled.bytes;
        if (pulled.outcome === "fetched") fetchedBytes += pulled.bytes;
        events.onBlobDone?.(blob, pulled.outcome, pulled.bytes);
      } catch (error) {
        failedBlobs++;
        imageFailed = true;
        events.onFailure?.(label, blob.digest, asError(error));
      }
    });
    if (imageFailed) failedImages++;
  }
  return {
    images: images.length,
    failedImages,
    blobs,
    bytes,
    fetchedBytes,
    failedBlobs,
    ms: Math.round(performance.now() - started),
  };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** The image manifests a reference stands for: itself, or the chosen entries of its index. */
async function readManifests(
  client: PullClient,
  target: PullTarget,
  reference: string,
  platforms: readonly Platform[] | undefined,
  depth: number,
): Promise<ManifestInfo[]> {
  const pulled = await client.manifest(target, reference);
  const info = parseManifest(pulled.bytes, pulled.mediaType);
  if (info.kind !== "index") return [info];
  if (depth >= MAX_INDEX_DEPTH)
    throw new Error(`indexes nest deeper than ${MAX_INDEX_DEPTH} levels at ${reference}`);
  // Entries without a platform (nested indexes) are followed: their own entries say which platform.
  const chosen = platforms
    ? info.manifests.filter(
        (entry) => !entry.platform || platforms.some((wanted) => platformMatches(wanted, entry.platform)),
      )
    : info.manifests;
  const found: ManifestInfo[] = [];
  for (const entry of chosen)
    found.push(...(await readManifests(client, target, entry.digest, platforms, depth + 1)));
  if (found.length === 0) throw new Error(`the index ${reference} lists none of the platforms asked for`);
  return found;
}

/** Config and layers of every manifest, each digest once; non-distributable layers live elsewhere. */
function blobsOf(infos: readonly ManifestInfo[], image: string): PrefetchBlob[] {
  const byDigest = new Map<string, PrefetchBlob>();
  for (const descriptor of infos.flatMap((info): readonly Descriptor[] => info.blobs)) {
    if (isNonDistributable(descriptor.mediaType) || byDigest.has(descriptor.digest)) continue;
    byDigest.set(descriptor.digest, { image, digest: descriptor.digest, size: descriptor.size });
  }
  return [...byDigest.values()];
}

/** Reads one blob to its end, hashing it; its size (when the manifest gives one) and digest must match. */
async function pullBlob(
  client: PullClient,
  target: PullTarget,
  blob: PrefetchBlob,
  events: PrefetchEvents,
): Promise<{ outcome: BlobOutcome; bytes: number }> {
  events.onBlobStart?.(blob);
  const pulled = await client.blob(target, blob.digest);
  const digest = parseDigest(blob.digest);
  const hasher = createDigester(digest.algorithm);
  let received = 0;
  try {
    for await (const chunk of pulled.body as AsyncIterable<Buffer>) {
      hasher.update(chunk);
      received += chunk.byteLength;
      events.onBlobProgress?.(blob, received);
    }
  } finally {
    pulled.body.destroy();
  }
  // Schema 1 manifests give no sizes (-1): the digest alone proves those.
  if (blob.size >= 0 && received !== blob.size) throw new Error(`received ${received} of ${blob.size} bytes`);
  const actual = `${digest.algorithm}:${hasher.digest("hex")}`;
  if (actual !== blob.digest) throw new Error(`received content with digest ${actual}`);
  const outcome = pulled.cache === undefined ? "served" : CACHED.has(pulled.cache) ? "cached" : "fetched";
  return { outcome, bytes: received };
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
