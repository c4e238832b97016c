import type { Reference } from "../oci/names.js";
import type { Platform } from "../oci/platform.js";
import type { ManifestRequest, Repository } from "../repos/repository.js";
import type { BlobBody } from "../store/blob-body.js";
import { imageBlobs, imageManifests } from "./image-walk.js";

/** Asks like a client but says it is not one: the image counts as used, no pull is counted. */
const ASK: ManifestRequest = { method: "GET", accept: [], background: true };

/** Reads a blob body to its end (a download completes and is verified only when read); the caller releases it. */
async function drain(body: BlobBody): Promise<void> {
  if (body.kind === "redirect") return;
  for await (const _ of body.stream()) {
    // The bytes go to the store by the download itself; here they are only let through.
  }
}

export interface PulledThrough {
  /** The top manifest was not here yet (a new tag, or one that moved). */
  readonly pulled: boolean;
  /** Config and layer blobs the image needs. */
  readonly blobs: number;
  /** Of those, the ones downloaded from upstream now, and their bytes. */
  readonly blobsFetched: number;
  readonly bytesFetched: number;
}

/**
 * Pulls one image whole through a repository, as a client's pull would, so content, links,
 * freshness and eviction's view are the same: the manifest by its reference, the platform
 * manifests an index lists (those asked for, or all), every blob read to its end and waited for
 * until it is stored. `beforeCounted` runs before each child manifest GET (the requests an
 * upstream may count), e.g. to stop while a budget runs low. What sync and the admin API's
 * prefetch share.
 */
export async function pullThrough(
  repository: Repository,
  name: string,
  reference: Reference,
  options: { platforms?: readonly Platform[]; beforeCounted?: () => Promise<void> } = {},
): Promise<PulledThrough> {
  const top = await repository.getManifest(name, reference, ASK);
  const topReference = reference.kind === "tag" ? reference.tag : reference.digest;
  const infos = await imageManifests(
    async (asked) => {
      if (asked === topReference && top.bytes) return { bytes: top.bytes, mediaType: top.mediaType };
      await options.beforeCounted?.();
      const child = await repository.getManifest(name, { kind: "digest", digest: asked }, ASK);
      if (!child.bytes) throw new Error(`manifest ${asked} came without its bytes`);
      return { bytes: child.bytes, mediaType: child.mediaType };
    },
    topReference,
    options.platforms,
  );
  const blobs = imageBlobs(infos);
  let blobsFetched = 0;
  let bytesFetched = 0;
  for (const blob of blobs) {
    const content = await repository.openBlob(name, blob.digest);
    try {
      if (content.cache === "hit") continue;
      await drain(content.body);
      // Fetched means cached: wait until the download is stored and linked, not only verified.
      if (content.kept && !(await content.kept))
        throw new Error(`blob ${blob.digest} was served but not kept`);
      blobsFetched++;
      bytesFetched += content.size ?? blob.size;
    } finally {
      if (content.body.kind !== "redirect") content.body.release();
    }
  }
  return { pulled: top.cache === "miss", blobs: blobs.length, blobsFetched, bytesFetched };
}
