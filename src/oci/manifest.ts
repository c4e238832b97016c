import { TooLargeError } from "../util/errors.js";
import { isRecord } from "../util/is-record.js";
import { tryParseDigest } from "./digest.js";
import { OciError } from "./errors.js";
import { baseMediaType, isImageManifestType, isIndexType, isManifestType, MediaType } from "./media-types.js";

/** The spec asks registries to accept manifests of at least 4 MiB; anything larger is refused. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Readonly<Record<string, unknown>>;
}

/** What wharf needs to know about a manifest beyond its bytes. */
export interface ManifestInfo {
  readonly mediaType: string;
  readonly kind: "image" | "index" | "schema1";
  /** Blobs the manifest needs: config and layers (empty for indexes). */
  readonly blobs: readonly Descriptor[];
  /** Manifests an index lists. */
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  /** The referrers API's artifactType: the manifest's own, else its config's media type. */
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

function invalid(message: string, detail?: unknown): OciError {
  return new OciError("MANIFEST_INVALID", { message, detail });
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value) || !Object.values(value).every((v) => typeof v === "string")) {
    throw invalid(`${where} must map strings to strings`);
  }
  return value as Record<string, string>;
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isRecord(value)) throw invalid(`${where} is not a descriptor`);
  const { mediaType, digest, size, artifactType, platform } = value;
  if (typeof mediaType !== "string" || mediaType.length === 0) throw invalid(`${where}.mediaType is missing`);
  if (typeof digest !== "string" || !tryParseDigest(digest)) throw invalid(`${where}.digest is invalid`);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0)
    throw invalid(`${where}.size is invalid`);
  if (artifactType !== undefined && typeof artifactType !== "string") throw invalid(`${where}.artifactType`);
  if (platform !== undefined && !isRecord(platform)) throw invalid(`${where}.platform is not an object`);
  const annotations = stringMap(value.annotations, `${where}.annotations`);
  return {
    mediaType,
    digest,
    size,
    ...(artifactType === undefined ? {} : { artifactType }),
    ...(annotations === undefined ? {} : { annotations }),
    ...(platform === undefined ? {} : { platform }),
  };
}

function descriptorList(value: unknown, where: string): Descriptor[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`${where} is not an array`);
  return value.map((entry, index) => descriptor(entry, `${where}[${index}]`));
}

/**
 * Real manifests nest a handful of levels. JSON.parse takes seconds over megabytes of `[[[[…`,
 * blocking every other request meanwhile, so such documents are refused before parsing.
 */
const MAX_NESTING = 64;

/** Whether arrays and objects nest deeper than MAX_NESTING, by a linear scan outside strings. */
function nestsTooDeep(bytes: Uint8Array): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === 0x5c)
        i++; // a backslash escapes the next byte
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > MAX_NESTING) return true;
    } else if (byte === 0x5d || byte === 0x7d) depth--;
  }
  return false;
}

function parseJson(bytes: Uint8Array): Record<string, unknown> {
  if (nestsTooDeep(bytes)) throw invalid(`manifest nests deeper than ${MAX_NESTING} levels`);
  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch {
    // A RangeError from pathological nesting lands here too: it is still just an invalid manifest.
    throw invalid("manifest is not valid JSON");
  }
  if (!isRecord(document)) throw invalid("manifest is not a JSON object");
  return document;
}

/**
 * Decides a manifest's media type from its `mediaType` field and the Content-Type it came with.
 * They must agree when both are given; one of them must name a manifest type wharf knows.
 */
function resolveMediaType(document: Record<string, unknown>, contentType: string | undefined): string {
  if (document.mediaType !== undefined && typeof document.mediaType !== "string") {
    throw invalid("mediaType must be a string");
  }
  const declared = document.mediaType;
  const header = baseMediaType(contentType);
  const headerIsManifest = isManifestType(header);
  if (declared !== undefined && headerIsManifest && declared !== header) {
    throw invalid("mediaType does not match Content-Type", { mediaType: declared, contentType: header });
  }
  const mediaType = declared ?? (headerIsManifest ? header : undefined);
  if (mediaType !== undefined) return mediaType;
  // OCI manifests may omit mediaType; their shape then says what they are.
  if (Array.isArray(document.manifests)) return MediaType.ociIndex;
  if (isRecord(document.config)) return MediaType.ociManifest;
  if (document.schemaVersion === 1) return MediaType.dockerSchema1Signed;
  throw invalid("cannot tell the manifest's media type");
}

/**
 * Parses and validates manifest bytes. Refuses what no client could use; it does not check
 * that referenced content exists (that is the repository's job).
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ManifestInfo {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new TooLargeError("manifest", MAX_MANIFEST_BYTES);
  }
  const document = parseJson(bytes);
  const mediaType = resolveMediaType(document, contentType);
  if (!isManifestType(mediaType)) throw invalid("unsupported manifest media type", { mediaType });
  if (!isImageManifestType(mediaType) && !isIndexType(mediaType)) {
    return { mediaType, kind: "schema1", blobs: schema1Blobs(document), manifests: [] };
  }
  if (document.schemaVersion !== 2) throw invalid("schemaVersion must be 2");
  const subject = document.subject === undefined ? undefined : descriptor(document.subject, "subject");
  const annotations = stringMap(document.annotations, "annotations");
  const ownArtifactType = document.artifactType;
  if (ownArtifactType !== undefined && typeof ownArtifactType !== "string") throw invalid("artifactType");
  const common = {
    mediaType,
    ...(subject === undefined ? {} : { subject }),
    ...(annotations === undefined ? {} : { annotations }),
  };
  if (isIndexType(mediaType)) {
    if (!Array.isArray(document.manifests)) throw invalid("an index needs a manifests array");
    return {
      ...common,
      kind: "index",
      blobs: [],
      manifests: descriptorList(document.manifests, "manifests"),
      ...(ownArtifactType === undefined ? {} : { artifactType: ownArtifactType }),
    };
  }
  const config = descriptor(document.config, "config");
  const layers = descriptorList(document.layers, "layers");
  const artifactType = ownArtifactType ?? config.mediaType;
  return { ...common, kind: "image", blobs: [config, ...layers], manifests: [], artifactType };
}

/** Schema 1 manifests name their layers as `fsLayers[].blobSum`, without sizes. */
function schema1Blobs(document: Record<string, unknown>): Descriptor[] {
  const layers = Array.isArray(document.fsLayers) ? document.fsLayers : [];
  return layers.flatMap((layer) => {
    const digest = isRecord(layer) ? layer.blobSum : undefined;
    return typeof digest === "string" && tryParseDigest(digest)
      ? [{ mediaType: "application/octet-stream", digest, size: -1 }]
      : [];
  });
}
