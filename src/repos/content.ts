import type { ManifestRecord, NewManifest } from "../meta/metadata-store.js";
import type { Descriptor, ManifestInfo } from "../oci/manifest.js";
import { parseManifest } from "../oci/manifest.js";
import { type ByteRange, type RangeRequest, resolveRange } from "../oci/range.js";
import { RangeNotSatisfiableError } from "../util/errors.js";

/** What the metadata store keeps of a parsed manifest. */
export function manifestRecordOf(digest: string, size: number, info: ManifestInfo): NewManifest {
  return {
    digest,
    mediaType: info.mediaType,
    size,
    references: [...info.blobs, ...info.manifests].map((d) => d.digest),
    ...(info.subject ? { subject: info.subject.digest } : {}),
    ...(info.artifactType ? { artifactType: info.artifactType } : {}),
    ...(info.annotations ? { annotations: info.annotations } : {}),
  };
}

/** A stored manifest as the referrers API lists it. */
export function descriptorOf(record: ManifestRecord): Descriptor {
  return {
    mediaType: record.mediaType,
    digest: record.digest,
    size: record.size,
    ...(record.artifactType ? { artifactType: record.artifactType } : {}),
    ...(record.annotations ? { annotations: record.annotations } : {}),
  };
}

/** The descriptors of a referrers index an upstream returned; an unreadable one lists nothing. */
export function referrersFromIndex(bytes: Uint8Array): Descriptor[] {
  try {
    return [...parseManifest(bytes).manifests];
  } catch {
    return [];
  }
}

/** Resolves a Range against a size, throwing RangeNotSatisfiableError when nothing can be served. */
export function rangeResolver(request: RangeRequest): (size: number) => ByteRange {
  return (size) => {
    const range = resolveRange(request, size);
    if (range === "unsatisfiable") throw new RangeNotSatisfiableError(size);
    return range;
  };
}
