import { type Descriptor, type ManifestInfo, parseManifest } from "../oci/manifest.js";
import { isNonDistributable } from "../oci/media-types.js";
import { type Platform, platformMatches } from "../oci/platform.js";

/** Reads one manifest, by tag or digest, wherever it comes from (a running wharf, a repository). */
export type ManifestReader = (
  reference: string,
) => Promise<{ readonly bytes: Buffer; readonly mediaType: string }>;

/** Indexes of indexes exist (attestations, nested lists); deeper than this is a loop or an attack. */
const MAX_INDEX_DEPTH = 4;

/**
 * The image manifests a reference stands for, as a client pulling it reads them: itself, or the
 * entries of its index that match `platforms` (all of them when absent), indexes followed down.
 * What `wharf prefetch` pulls through a running wharf and what sync pulls through a repository.
 */
export async function imageManifests(
  read: ManifestReader,
  reference: string,
  platforms?: readonly Platform[],
  depth = 0,
): Promise<ManifestInfo[]> {
  const pulled = await read(reference);
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
  for (const entry of chosen) found.push(...(await imageManifests(read, entry.digest, platforms, depth + 1)));
  if (found.length === 0) throw new Error(`the index ${reference} lists none of the platforms asked for`);
  return found;
}

/** Config and layers of every manifest, each digest once; non-distributable layers live elsewhere. */
export function imageBlobs(infos: readonly ManifestInfo[]): Descriptor[] {
  const byDigest = new Map<string, Descriptor>();
  for (const descriptor of infos.flatMap((info): readonly Descriptor[] => info.blobs)) {
    if (isNonDistributable(descriptor.mediaType) || byDigest.has(descriptor.digest)) continue;
    byDigest.set(descriptor.digest, descriptor);
  }
  return [...byDigest.values()];
}
