import { createDigester, parseDigest } from "../oci/digest.js";
import { formatImageReference, type ImageReference, manifestReference } from "../oci/image-reference.js";
import type { Platform } from "../oci/platform.js";
import { imageBlobs, imageManifests } from "./image-walk.js";
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
      const infos = await imageManifests(
        (reference) => options.client.manifest(target, reference),
        manifestReference(image),
        options.platforms,
      );
      needed = imageBlobs(infos)
        .map((descriptor) => ({ image: label, digest: descriptor.digest, size: descriptor.size }))
        .filter((blob) => {
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
