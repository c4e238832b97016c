import crypto from "node:crypto";

// The suite's setup.go and image.go: the environment it reads and the content it pushes. Manifests
// are serialized the way Go's json.MarshalIndent(v, "", "\t") writes the suite's structs (field
// order, omitempty, []byte as base64, nil []byte as null), because the bytes, and so the digests,
// are part of what the registry must store and serve back unchanged.

export const MEDIA_TYPE = Object.freeze({
  manifest: "application/vnd.oci.image.manifest.v1+json",
  index: "application/vnd.oci.image.index.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  emptyJson: "application/vnd.oci.empty.v1+json",
});

/** The suite's workflow bits; `numWorkflows` follows them in the same iota, so it is 16. */
export const WORKFLOW = Object.freeze({ pull: 1, push: 2, contentDiscovery: 4, contentManagement: 8 });
const NUM_WORKFLOWS = 16;

/**
 * The suite's errorCodes slice. Its indices continue the iota after numWorkflows (BLOB_UNKNOWN is
 * 5), so entries 0-4 are empty strings; "ContainElement(code)" therefore also accepts "".
 */
const ERROR_CODE_NAMES = [
  "BLOB_UNKNOWN",
  "BLOB_UPLOAD_INVALID",
  "BLOB_UPLOAD_UNKNOWN",
  "DIGEST_INVALID",
  "MANIFEST_BLOB_UNKNOWN",
  "MANIFEST_INVALID",
  "MANIFEST_UNKNOWN",
  "MANIFEST_UNVERIFIED",
  "NAME_INVALID",
  "NAME_UNKNOWN",
  "SIZE_INVALID",
  "TAG_INVALID",
  "UNAUTHORIZED",
  "DENIED",
  "UNSUPPORTED",
] as const;
export const ERROR_CODES: readonly string[] = Object.freeze(["", "", "", "", "", ...ERROR_CODE_NAMES]);
export const UNSUPPORTED = ERROR_CODES.indexOf("UNSUPPORTED");

export const TEST_TAG_NAME = "tagtest0";
export const EMPTY_LAYER_TEST_TAG = "emptylayer";
export const ARTIFACT_TYPE_FILTER = "artifactType";
export const TEST_ANNOTATION_KEY = "org.opencontainers.conformance.test";

/** `echo 'you bothered to find out what was in here. Congratulations!' > test.txt; tar czvf` */
const LAYER_BASE64 =
  "H4sIAAAAAAAAA+3OQQrCMBCF4a49xXgBSUnaHMCTRBptQRNpp6i3t0UEV7oqIv7fYgbmzeJpHHSjVy0" +
  "WZCa1c/MufWVe94N3RWlrZ72x3k/30nhbFWKWLPU0Dhp6keJ8im//PuU/6pZH2WVtYx8b0Sz7LjWSR5VLG6YRBumSzOlGtjkd+qD" +
  "jMWiX07Befbs7AAAAAAAAAAAAAAAAAPyzO34MnqoAKAAA";

export type Algorithm = "sha256" | "sha512";

export function digestOf(bytes: Uint8Array | string, algorithm: Algorithm = "sha256"): string {
  return `${algorithm}:${crypto.createHash(algorithm).update(bytes).digest("hex")}`;
}

/**
 * Go's json.Marshal (compact) or MarshalIndent(v, "", "\t"); both escape these characters, even
 * inside strings of a JSON that is never shown in HTML.
 */
export function goJson(value: unknown, indent: "\t" | "" = "\t"): Buffer {
  const text = JSON.stringify(value, null, indent)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
  return Buffer.from(text, "utf8");
}

/** Go marshals maps with sorted keys. */
export function sortedMap(map: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
}

/** image.go's descriptor, including the suite's NewUnspecifiedField. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly data?: Uint8Array;
  readonly platform?: Platform;
  readonly artifactType?: string;
  readonly newUnspecifiedField?: Uint8Array;
}

/**
 * The descriptor as Go writes it: fields in struct order. The suite's own struct never omits
 * `newUnspecifiedField`; image-spec's (used by the redesigned suite) has no such field.
 */
export function descriptorJson(
  d: Descriptor,
  struct: "suite" | "image-spec" = "suite",
): Record<string, unknown> {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.urls?.length ? { urls: d.urls } : {}),
    ...(d.annotations && Object.keys(d.annotations).length ? { annotations: sortedMap(d.annotations) } : {}),
    ...(d.data?.length ? { data: Buffer.from(d.data).toString("base64") } : {}),
    ...(d.platform ? { platform: platformJson(d.platform) } : {}),
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
    ...(struct === "suite"
      ? {
          newUnspecifiedField: d.newUnspecifiedField
            ? Buffer.from(d.newUnspecifiedField).toString("base64")
            : null,
        }
      : {}),
  };
}

export function platformJson(p: Platform): Record<string, unknown> {
  return { architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}) };
}

export interface ManifestSpec {
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A manifest struct (the suite's image.go, or image-spec's) in Go's field order. */
export function manifestJson(m: ManifestSpec, struct: "suite" | "image-spec"): Record<string, unknown> {
  const descriptor = (d: Descriptor) => descriptorJson(d, struct);
  return {
    schemaVersion: 2,
    ...(m.mediaType ? { mediaType: m.mediaType } : {}),
    ...(m.artifactType ? { artifactType: m.artifactType } : {}),
    config: descriptor(m.config),
    layers: m.layers.map(descriptor),
    ...(m.subject ? { subject: descriptor(m.subject) } : {}),
    ...(m.annotations && Object.keys(m.annotations).length ? { annotations: sortedMap(m.annotations) } : {}),
  };
}

/** image.go's manifest struct, MarshalIndent'ed. */
export function manifestBytes(m: ManifestSpec): Buffer {
  return goJson(manifestJson(m, "suite"));
}

export interface IndexSpec {
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** An index struct (the suite's image.go, or image-spec's) in Go's field order. */
export function indexJson(ix: IndexSpec, struct: "suite" | "image-spec"): Record<string, unknown> {
  const descriptor = (d: Descriptor) => descriptorJson(d, struct);
  return {
    schemaVersion: 2,
    ...(ix.mediaType ? { mediaType: ix.mediaType } : {}),
    ...(ix.artifactType ? { artifactType: ix.artifactType } : {}),
    manifests: ix.manifests.map(descriptor),
    ...(ix.subject ? { subject: descriptor(ix.subject) } : {}),
    ...(ix.annotations && Object.keys(ix.annotations).length
      ? { annotations: sortedMap(ix.annotations) }
      : {}),
  };
}

/** image.go's index struct, MarshalIndent'ed. */
export function indexBytes(ix: IndexSpec): Buffer {
  return goJson(indexJson(ix, "suite"));
}

/** image.go's image (config) struct: author first, empty diff_ids as []. */
function configBytes(author: string): Buffer {
  return goJson({
    ...(author ? { author } : {}),
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [] },
  });
}

export interface TestBlob {
  readonly content: Buffer;
  readonly contentLength: string;
  readonly digest: string;
}

function testBlob(content: Buffer, digestOverride?: string): TestBlob {
  return { content, contentLength: String(content.length), digest: digestOverride || digestOf(content) };
}

/** setup.go's randomString: crypto-random letters, digits and '-'. */
function randomString(length: number): string {
  const letters = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-";
  return Array.from({ length }, () => letters[crypto.randomInt(letters.length)]).join("");
}

/**
 * setup.go's randomBlob draws reproducible bytes from math/rand seeded with Ginkgo's random
 * seed; this draws them from a seeded xorshift so a run can be repeated from its printed seed.
 */
function seededBytes(size: number, seed: number): Buffer {
  let state = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state & 0xff;
  }
  return out;
}

/** Go's strconv.ParseBool, with a parse error counting as false as the suite discards it. */
function parseBool(value: string | undefined): boolean {
  return value !== undefined && ["1", "t", "T", "TRUE", "true", "True"].includes(value);
}

/** The OCI_* environment a user of the suite sets. */
export type SuiteEnv = Readonly<Record<string, string | undefined>>;

export interface ChunkedBlob {
  readonly blob: Buffer;
  readonly digest: string;
  readonly chunk1: Buffer;
  readonly chunk1Length: string;
  readonly chunk1Range: string;
  readonly chunk2: Buffer;
  readonly chunk2Length: string;
  readonly chunk2Range: string;
}

/** setup.go's setupChunkedBlob: the first chunk one byte longer than half. */
function chunkedBlob(size: number, seed: number): ChunkedBlob {
  const blob = seededBytes(size, seed);
  const cut = Math.floor(size / 2) + 1;
  const chunk1 = blob.subarray(0, cut);
  const chunk2 = blob.subarray(cut);
  return {
    blob,
    digest: digestOf(blob),
    chunk1,
    chunk1Length: String(chunk1.length),
    chunk1Range: `0-${chunk1.length - 1}`,
    chunk2,
    chunk2Length: String(chunk2.length),
    chunk2Range: `${chunk1.length}-${blob.length - 1}`,
  };
}

/** Everything setup.go's init() computes, for one run of the suite. */
export interface Suite {
  readonly env: SuiteEnv;
  readonly namespace: string;
  readonly crossmountNamespace: string;
  readonly seed: number;
  readonly testsToRun: number;
  readonly runPullSetup: boolean;
  readonly runPushSetup: boolean;
  readonly runContentDiscoverySetup: boolean;
  readonly runContentManagementSetup: boolean;
  readonly deleteManifestBeforeBlobs: boolean;
  readonly runAutomaticCrossmountTest: boolean;
  readonly automaticCrossmountEnabled: boolean;
  readonly configs: readonly TestBlob[];
  readonly manifests: readonly TestBlob[];
  readonly layerBlobData: Buffer;
  readonly layerBlobDigest: string;
  readonly layerBlobContentLength: string;
  readonly emptyLayerManifestContent: Buffer;
  readonly emptyLayerManifestDigest: string;
  readonly nonexistentManifest: string;
  readonly invalidManifestContent: Buffer;
  readonly testBlobA: Buffer;
  readonly testBlobALength: string;
  readonly testBlobADigest: string;
  /** Rebuilt by the push workflow when the registry asks for bigger chunks, as in setup.go. */
  chunked: ChunkedBlob;
  readonly emptyJsonBlob: Buffer;
  readonly emptyJsonDescriptor: Descriptor;
  readonly testRefBlobA: Buffer;
  readonly testRefBlobALength: string;
  readonly testRefBlobADigest: string;
  readonly testRefBlobB: Buffer;
  readonly testRefBlobBLength: string;
  readonly testRefBlobBDigest: string;
  readonly testRefArtifactTypeA: string;
  readonly testRefArtifactTypeB: string;
  readonly testRefArtifactTypeIndex: string;
  readonly testAnnotationValues: ReadonlyMap<string, string>;
  readonly refsManifestAConfigArtifact: TestBlob;
  readonly refsManifestBConfigArtifact: TestBlob;
  readonly refsManifestALayerArtifact: TestBlob;
  readonly refsManifestBLayerArtifact: TestBlob;
  readonly refsManifestCLayerArtifact: TestBlob;
  readonly refsIndexArtifact: TestBlob;
  readonly dummyDigest: string;
  /** SkipIfDisabled's condition. */
  enabled(workflow: number): boolean;
  /** setupChunkedBlob, with the seed the suite uses for it. */
  resizeChunkedBlob(size: number): void;
}

/**
 * setup.go's init(), reading `env` instead of the process environment. OCI_ROOT_URL is read when
 * the client is made: the registry's port is known only once it runs.
 */
export function loadSuite(env: SuiteEnv, seed: number = Date.now() % 2 ** 31): Suite {
  const namespace = env.OCI_NAMESPACE ?? "";
  const crossmountNamespace = env.OCI_CROSSMOUNT_NAMESPACE || `conformance-${crypto.randomUUID()}`;
  const testMap: Record<string, number> = {
    OCI_TEST_PULL: WORKFLOW.pull,
    OCI_TEST_PUSH: WORKFLOW.push,
    OCI_TEST_CONTENT_DISCOVERY: WORKFLOW.contentDiscovery,
    OCI_TEST_CONTENT_MANAGEMENT: WORKFLOW.contentManagement,
  };
  let testsToRun = 0;
  for (const [name, bit] of Object.entries(testMap)) if (parseBool(env[name])) testsToRun |= bit;

  // a unique config per workflow category: a random author gives each its own digest
  const configs = Array.from({ length: NUM_WORKFLOWS }, () =>
    testBlob(configBytes(randomString(16)), env.OCI_BLOB_DIGEST),
  );
  const layerBlobData = Buffer.from(LAYER_BASE64, "base64");
  const layerBlobDigest = digestOf(layerBlobData);
  const layers: Descriptor[] = [
    { mediaType: MEDIA_TYPE.layerGzip, size: layerBlobData.length, digest: layerBlobDigest },
  ];
  const configDescriptor = (config: TestBlob): Descriptor => ({
    mediaType: MEDIA_TYPE.config,
    digest: config.digest,
    size: config.content.length,
    data: config.content, // must be the config content
    newUnspecifiedField: Buffer.from("hello world"), // content doesn't matter
  });
  const manifests = configs.map((config) =>
    testBlob(
      manifestBytes({ mediaType: MEDIA_TYPE.manifest, config: configDescriptor(config), layers }),
      env.OCI_MANIFEST_DIGEST,
    ),
  );
  const config1 = configs[1] as TestBlob;
  const emptyLayerManifestContent = manifestBytes({ config: configDescriptor(config1), layers: [] });

  const testBlobA = seededBytes(42, seed + 1);
  const emptyJsonBlob = Buffer.from("{}");
  const emptyJsonDescriptor: Descriptor = {
    mediaType: MEDIA_TYPE.emptyJson,
    size: emptyJsonBlob.length,
    digest: digestOf(emptyJsonBlob),
  };
  const testRefBlobA = Buffer.from("NHL Peanut Butter on my NHL bagel");
  const testRefBlobB = Buffer.from("NBA Strawberry Jam on my NBA croissant");
  const testRefArtifactTypeA = "application/vnd.nhl.peanut.butter.bagel";
  const testRefArtifactTypeB = "application/vnd.nba.strawberry.jam.croissant";
  const testRefArtifactTypeIndex = "application/vnd.food.stand";
  const manifestDescriptor = (m: TestBlob): Descriptor => ({
    mediaType: MEDIA_TYPE.manifest,
    size: m.content.length,
    digest: digestOf(m.content),
  });
  const subject4 = manifestDescriptor(manifests[4] as TestBlob);
  const annotationValues = new Map<string, string>();
  const referrer = (spec: ManifestSpec): TestBlob => {
    const blob = testBlob(manifestBytes(spec));
    const annotation = spec.annotations?.[TEST_ANNOTATION_KEY];
    if (annotation !== undefined) annotationValues.set(blob.digest, annotation);
    return blob;
  };
  const refBlobDescriptor = (mediaType: string, blob: Buffer): Descriptor => ({
    mediaType,
    size: blob.length,
    digest: digestOf(blob),
  });
  // artifacts with a subject, config.mediaType as the artifact type
  const refsManifestAConfigArtifact = referrer({
    mediaType: MEDIA_TYPE.manifest,
    config: refBlobDescriptor(testRefArtifactTypeA, testRefBlobA),
    subject: subject4,
    layers: [emptyJsonDescriptor],
    annotations: { [TEST_ANNOTATION_KEY]: "test config a" },
  });
  const refsManifestBConfigArtifact = referrer({
    mediaType: MEDIA_TYPE.manifest,
    config: refBlobDescriptor(testRefArtifactTypeB, testRefBlobB),
    subject: subject4,
    layers: [emptyJsonDescriptor],
    annotations: { [TEST_ANNOTATION_KEY]: "test config b" },
  });
  // artifacts with a subject, artifactType set and the empty JSON config
  const refsManifestALayerArtifact = referrer({
    mediaType: MEDIA_TYPE.manifest,
    artifactType: testRefArtifactTypeA,
    config: emptyJsonDescriptor,
    subject: subject4,
    layers: [refBlobDescriptor(testRefArtifactTypeA, testRefBlobA)],
    annotations: { [TEST_ANNOTATION_KEY]: "test layer a" },
  });
  const refsManifestBLayerArtifact = referrer({
    mediaType: MEDIA_TYPE.manifest,
    artifactType: testRefArtifactTypeB,
    config: emptyJsonDescriptor,
    subject: subject4,
    layers: [refBlobDescriptor(testRefArtifactTypeB, testRefBlobB)],
    annotations: { [TEST_ANNOTATION_KEY]: "test layer b" },
  });
  // like B, but its subject (manifests[3]) is never pushed in the discovery workflow
  const refsManifestCLayerArtifact = referrer({
    mediaType: MEDIA_TYPE.manifest,
    artifactType: testRefArtifactTypeB,
    config: emptyJsonDescriptor,
    subject: manifestDescriptor(manifests[3] as TestBlob),
    layers: [refBlobDescriptor(testRefArtifactTypeB, testRefBlobB)],
  });
  const refsIndexArtifact = testBlob(
    indexBytes({
      mediaType: MEDIA_TYPE.index,
      artifactType: testRefArtifactTypeIndex,
      manifests: [
        manifestDescriptor(refsManifestAConfigArtifact),
        manifestDescriptor(refsManifestALayerArtifact),
      ],
      subject: subject4,
      annotations: { [TEST_ANNOTATION_KEY]: "test index" },
    }),
  );
  annotationValues.set(refsIndexArtifact.digest, "test index");

  const setupSkipped = env.OCI_TAG_NAME && env.OCI_MANIFEST_DIGEST && env.OCI_BLOB_DIGEST;
  const suite: Suite = {
    env,
    namespace,
    crossmountNamespace,
    seed,
    testsToRun,
    runPullSetup: !setupSkipped,
    runPushSetup: true,
    runContentDiscoverySetup: !env.OCI_TAG_LIST,
    runContentManagementSetup: true,
    deleteManifestBeforeBlobs:
      env.OCI_DELETE_MANIFEST_BEFORE_BLOBS === undefined
        ? true
        : parseBool(env.OCI_DELETE_MANIFEST_BEFORE_BLOBS),
    runAutomaticCrossmountTest: env.OCI_AUTOMATIC_CROSSMOUNT !== undefined,
    automaticCrossmountEnabled: parseBool(env.OCI_AUTOMATIC_CROSSMOUNT),
    configs,
    manifests,
    layerBlobData,
    layerBlobDigest,
    layerBlobContentLength: String(layerBlobData.length),
    emptyLayerManifestContent,
    emptyLayerManifestDigest: digestOf(emptyLayerManifestContent),
    nonexistentManifest: ".INVALID_MANIFEST_NAME",
    invalidManifestContent: Buffer.from("blablabla"),
    testBlobA,
    testBlobALength: String(testBlobA.length),
    testBlobADigest: digestOf(testBlobA),
    chunked: chunkedBlob(42, seed + 2),
    emptyJsonBlob,
    emptyJsonDescriptor,
    testRefBlobA,
    testRefBlobALength: String(testRefBlobA.length),
    testRefBlobADigest: digestOf(testRefBlobA),
    testRefBlobB,
    testRefBlobBLength: String(testRefBlobB.length),
    testRefBlobBDigest: digestOf(testRefBlobB),
    testRefArtifactTypeA,
    testRefArtifactTypeB,
    testRefArtifactTypeIndex,
    testAnnotationValues: annotationValues,
    refsManifestAConfigArtifact,
    refsManifestBConfigArtifact,
    refsManifestALayerArtifact,
    refsManifestBLayerArtifact,
    refsManifestCLayerArtifact,
    refsIndexArtifact,
    dummyDigest: digestOf("hello world"),
    enabled: (workflow) => (workflow & testsToRun) > 0,
    resizeChunkedBlob(size) {
      suite.chunked = chunkedBlob(size, seed + 2);
    },
  };
  return suite;
}
