import { type Descriptor, parseManifest } from "../oci/manifest.js";
import { formatPlatform } from "../oci/platform.js";
import { isRecord } from "../util/is-record.js";

/** The content a repository holds itself, read without asking any upstream. */
export interface StoredContent {
  /** A manifest stored here, or undefined. */
  manifest(digest: string): Promise<{ bytes: Buffer; mediaType: string } | undefined>;
  /** A small blob (an image config) stored here, or undefined. */
  document(digest: string): Promise<Buffer | undefined>;
  hasBlob(digest: string): Promise<boolean>;
}

export type ImageKind = "image" | "index" | "artifact";

export interface ConfigFacts {
  readonly digest: string;
  readonly created: string | null;
  readonly os: string | null;
  readonly architecture: string | null;
  readonly variant: string | null;
  readonly labels: Record<string, string>;
  readonly history: Array<{
    created: string | null;
    createdBy: string | null;
    comment: string | null;
    emptyLayer: boolean;
  }>;
}

export interface PlatformAnatomy {
  readonly platform: string | null;
  readonly digest: string;
  readonly mediaType: string;
  readonly stored: boolean;
  readonly config: ConfigFacts | null;
  readonly layers: Array<{ digest: string; mediaType: string; size: number; stored: boolean }>;
  readonly size: number;
}

export interface ImageAnatomy {
  readonly kind: ImageKind;
  readonly mediaType: string;
  readonly manifest: unknown;
  readonly platforms: PlatformAnatomy[];
}

const IMAGE_CONFIGS: ReadonlySet<string> = new Set([
  "application/vnd.oci.image.config.v1+json",
  "application/vnd.docker.container.image.v1+json",
]);

const text = (value: unknown): string | null => (typeof value === "string" ? value : null);

/** What an image config says about the image, read defensively: configs come from anywhere. */
export function configFacts(digest: string, bytes: Buffer): ConfigFacts {
  let document: unknown;
  try {
    document = JSON.parse(bytes.toString("utf8"));
  } catch {
    document = {};
  }
  const root = isRecord(document) ? document : {};
  const config = isRecord(root.config) ? root.config : {};
  const labels: Record<string, string> = {};
  if (isRecord(config.Labels)) {
    for (const [key, value] of Object.entries(config.Labels))
      if (typeof value === "string") labels[key] = value;
  }
  const history = Array.isArray(root.history) ? root.history : [];
  return {
    digest,
    created: text(root.created),
    os: text(root.os),
    architecture: text(root.architecture),
    variant: text(root.variant),
    labels,
    history: history.filter(isRecord).map((step) => ({
      created: text(step.created),
      createdBy: text(step.created_by),
      comment: text(step.comment),
      emptyLayer: step.empty_layer === true,
    })),
  };
}

function platformOf(descriptor: Descriptor | undefined, config: ConfigFacts | null): string | null {
  const listed = descriptor?.platform;
  if (listed && typeof listed.os === "string" && typeof listed.architecture === "string") {
    return formatPlatform({
      os: listed.os,
      architecture: listed.architecture,
      ...(typeof listed.variant === "string" && listed.variant !== "" ? { variant: listed.variant } : {}),
    });
  }
  if (config?.os && config.architecture) {
    return formatPlatform({
      os: config.os,
      architecture: config.architecture,
      ...(config.variant ? { variant: config.variant } : {}),
    });
  }
  return null;
}

/** Attestations and signatures in an index (docker buildx's `unknown/unknown`) are no platforms. */
function isAttestation(descriptor: Descriptor): boolean {
  const listed = descriptor.platform;
  return (
    (listed?.os === "unknown" && listed?.architecture === "unknown") ||
    descriptor.annotations?.["vnd.docker.reference.type"] === "attestation-manifest"
  );
}

async function platformImage(
  content: StoredContent,
  digest: string,
  entry: Descriptor | undefined,
  withConfig: boolean,
): Promise<PlatformAnatomy> {
  const stored = await content.manifest(digest);
  if (!stored) {
    return {
      platform: platformOf(entry, null),
      digest,
      mediaType: entry?.mediaType ?? "",
      stored: false,
      config: null,
      layers: [],
      size: 0,
    };
  }
  const info = parseManifest(stored.bytes, stored.mediaType);
  const [configDescriptor, ...layerDescriptors] = info.blobs;
  const configBytes =
    withConfig && configDescriptor && IMAGE_CONFIGS.has(configDescriptor.mediaType)
      ? await content.document(configDescriptor.digest)
      : undefined;
  const config = configDescriptor && configBytes ? configFacts(configDescriptor.digest, configBytes) : null;
  const layers = await Promise.all(
    layerDescriptors.map(async (layer) => ({
      digest: layer.digest,
      mediaType: layer.mediaType,
      size: Math.max(0, layer.size),
      stored: await content.hasBlob(layer.digest),
    })),
  );
  return {
    platform: platformOf(entry, config),
    digest,
    mediaType: stored.mediaType,
    stored: true,
    config,
    layers,
    size: info.blobs.reduce((sum, blob) => sum + Math.max(0, blob.size), 0),
  };
}

/**
 * An image as the dashboard shows it, from what the repository holds: the manifest or index,
 * and for each platform its config (created, OS and architecture, labels, history) and layers,
 * each marked as stored or not (a proxy keeps only the platforms and layers clients pulled).
 * Nothing is fetched from upstream. Undefined when the root manifest is not stored.
 */
export async function anatomyOf(content: StoredContent, digest: string): Promise<ImageAnatomy | undefined> {
  const root = await content.manifest(digest);
  if (!root) return undefined;
  const info = parseManifest(root.bytes, root.mediaType);
  const manifest: unknown = JSON.parse(root.bytes.toString("utf8"));
  if (info.kind === "index") {
    const entries = info.manifests.filter((entry) => !isAttestation(entry));
    return {
      kind: "index",
      mediaType: root.mediaType,
      manifest,
      platforms: await Promise.all(entries.map((entry) => platformImage(content, entry.digest, entry, true))),
    };
  }
  const image = await platformImage(content, digest, undefined, true);
  return { kind: kindOfInfo(info), mediaType: root.mediaType, manifest, platforms: [image] };
}

/**
 * The platforms of an image, cheaply: an index's entries as it lists them, or a single image's
 * config OS and architecture. For listings, where it is cached by digest (content never changes).
 */
export async function platformsOf(content: StoredContent, digest: string): Promise<string[]> {
  const root = await content.manifest(digest);
  if (!root) return [];
  const info = parseManifest(root.bytes, root.mediaType);
  if (info.kind === "index") {
    return [
      ...new Set(
        info.manifests
          .filter((entry) => !isAttestation(entry))
          .flatMap((entry) => platformOf(entry, null) ?? []),
      ),
    ];
  }
  const config = info.blobs[0];
  if (!config || !IMAGE_CONFIGS.has(config.mediaType)) return [];
  const bytes = await content.document(config.digest);
  const platform = bytes ? platformOf(undefined, configFacts(config.digest, bytes)) : null;
  return platform === null ? [] : [platform];
}

/** Whether a stored manifest is an index, an image or another artifact, from its bytes. */
export function kindOf(bytes: Buffer, mediaType: string): ImageKind {
  return kindOfInfo(parseManifest(bytes, mediaType));
}

/** An image manifest whose config is not an image's (a signature, an SBOM, a Helm chart) is an artifact. */
function kindOfInfo(info: ReturnType<typeof parseManifest>): ImageKind {
  if (info.kind === "index") return "index";
  if (info.kind === "schema1") return "image";
  const configType = info.blobs[0]?.mediaType;
  return configType !== undefined && IMAGE_CONFIGS.has(configType) ? "image" : "artifact";
}
