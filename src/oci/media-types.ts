import { Lru } from "../util/lru.js";
export const MediaType = Object.freeze({
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  dockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  ociEmpty: "application/vnd.oci.empty.v1+json",
} as const);

const IMAGE_MANIFESTS: ReadonlySet<string> = new Set([MediaType.ociManifest, MediaType.dockerManifest]);
const INDEXES: ReadonlySet<string> = new Set([MediaType.ociIndex, MediaType.dockerManifestList]);
const SCHEMA1: ReadonlySet<string> = new Set([MediaType.dockerSchema1Signed, MediaType.dockerSchema1]);

export function isImageManifestType(mediaType: string): boolean {
  return IMAGE_MANIFESTS.has(mediaType);
}

export function isIndexType(mediaType: string): boolean {
  return INDEXES.has(mediaType);
}

export function isManifestType(mediaType: string): boolean {
  return IMAGE_MANIFESTS.has(mediaType) || INDEXES.has(mediaType) || SCHEMA1.has(mediaType);
}

/**
 * What wharf asks an upstream for when the client said nothing (or when it revalidates a tag):
 * every manifest kind, so the tag resolves to the same representation whoever asked first.
 */
export const ALL_MANIFEST_TYPES: readonly string[] = Object.freeze([
  MediaType.ociIndex,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
]);

/** Strips parameters (`; charset=…`) and case from a Content-Type value. */
export function baseMediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/**
 * Splits Accept header lines into media types. Go clients send one header line per type and
 * containerd one comma-joined line; both arrive here as a list or a joined string.
 */
export function parseAccept(accept: string | string[] | undefined): readonly string[] {
  if (accept === undefined) return NOTHING_ACCEPTED;
  // Lines split at commas either way, so joined they parse alike.
  const joined = Array.isArray(accept) ? accept.join(",") : accept;
  let parsed = parsedAccepts.get(joined);
  if (parsed === undefined) {
    parsed = Object.freeze(
      joined
        .split(",")
        .map((part) => baseMediaType(part))
        .filter((part) => part.length > 0),
    );
    parsedAccepts.set(joined, parsed);
  }
  return parsed;
}

const NOTHING_ACCEPTED: readonly string[] = Object.freeze([]);

/**
 * Accept headers parsed: a site's clients send a handful of distinct values, and splitting one on
 * every warm manifest GET cost a fifteenth of the request. Bounded, since clients choose them.
 */
const parsedAccepts = new Lru<string, readonly string[]>({ maxEntries: 256 });

/** True when a client with this Accept list can take a manifest of `mediaType`. */
export function accepts(acceptList: readonly string[], mediaType: string): boolean {
  if (acceptList.length === 0) return true;
  return acceptList.some((entry) => entry === mediaType || entry === "*/*" || entry === "application/*");
}

/**
 * Layers marked non-distributable (Windows base layers, "foreign" layers): clients fetch them from
 * their own URLs, registries neither hold nor are pushed them.
 */
export function isNonDistributable(mediaType: string): boolean {
  return /foreign|nondistributable/.test(mediaType);
}
