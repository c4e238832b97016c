import fc from "fast-check";
import { MediaType } from "../../src/oci/media-types.js";
import { validTag } from "./helpers.js";

// Generators of what a hostile or broken client sends, shared by the parsers' property tests and
// by the tests that send the same inputs through the HTTP server: one notion of "hostile".

export const DIGEST = `sha256:${"ab".repeat(32)}`;

/** Path components that traverse, encode, or mimic the URL grammar's words. */
const trickyComponent = fc.constantFrom(
  "..",
  ".",
  "",
  "%2e%2e",
  "%2E%2E",
  "%2f",
  "%2F",
  "%00",
  "..%2f",
  "\\",
  "..\\..",
  "a\\b",
  "etc",
  "passwd",
  "A",
  "a",
  "v2",
  "V2",
  "blobs",
  "uploads",
  "manifests",
  "tags",
  "list",
  "referrers",
  "_catalog",
  "latest",
  DIGEST,
  "x".repeat(300),
);

/** Request targets: traversal, encoded slashes, absolute and doubled paths, raw bytes. */
export const hostilePath: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 200 }).map((rest) => `/v2/${rest}`),
  fc
    .tuple(
      fc.constantFrom(
        "/v2/",
        "/v2//",
        "//v2/",
        "/v2/../",
        "/V2/",
        "/",
        "http://evil.example/v2/",
        "/v2/internal/",
      ),
      fc.array(fc.oneof(trickyComponent, fc.stringMatching(/^[a-z0-9._-]{1,12}$/)), { maxLength: 8 }),
    )
    .map(([prefix, parts]) => `${prefix}${parts.join("/")}`),
);

/** Digests with the wrong algorithm, length or case, and strings that are no digest at all. */
export const hostileDigest: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary" }),
  fc
    .tuple(
      fc.constantFrom("sha256", "sha512", "SHA256", "sha384", "md5", "", "sha256+x"),
      fc.stringMatching(/^[0-9a-fA-F]{0,130}$/),
    )
    .map(([algorithm, hex]) => `${algorithm}:${hex}`),
);

/** Manifest references: tags and digests a client could mistype or forge. */
export const hostileReference: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 200 }),
  validTag,
  fc.constant(DIGEST),
  fc.constantFrom("..", ".", "%2e%2e", "latest/../x", "-dash", ".dot", "t".repeat(129), ":", "a:b"),
  hostileDigest,
);

/** Content-Type values of a manifest PUT, known, unknown, odd and missing. */
export const manifestContentType: fc.Arbitrary<string | undefined> = fc.option(
  fc.constantFrom(
    ...Object.values(MediaType),
    "application/json",
    "text/plain; charset=utf-8",
    "application/x-unknown",
    "APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON",
    `${MediaType.ociManifest}; charset=utf-8`,
    "",
  ),
  { nil: undefined },
);

/** Documents shaped like manifests whose fields hold anything; `fixtures` are valid descriptors. */
export function manifestDocument(fixtures: {
  readonly config: object;
  readonly child: object;
}): fc.Arbitrary<Record<string, unknown>> {
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.constant(fixtures.config),
    fc.constant([fixtures.child]),
  );
  return fc.record(
    {
      schemaVersion: fc.oneof(fc.constant(2), fc.constant(1), value),
      mediaType: fc.oneof(fc.constantFrom(...Object.values(MediaType)), value),
      config: fc.oneof(fc.constant(fixtures.config), value),
      layers: fc.oneof(fc.array(fc.oneof(fc.constant(fixtures.config), value), { maxLength: 3 }), value),
      manifests: fc.oneof(fc.array(fc.oneof(fc.constant(fixtures.child), value), { maxLength: 3 }), value),
      subject: value,
      artifactType: value,
      annotations: fc.oneof(fc.dictionary(fc.string(), fc.string()), value),
      fsLayers: value,
    },
    { requiredKeys: [] },
  );
}

/** JSON nested `depth` levels deep, of arrays or objects. */
export function deeplyNested(depth: number, kind: "array" | "object"): Buffer {
  return Buffer.from(
    kind === "array"
      ? `${"[".repeat(depth)}${"]".repeat(depth)}`
      : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`,
  );
}

/** Manifest bodies: random bytes, random JSON, manifest-shaped documents, deep nesting. */
export function manifestBody(fixtures: {
  readonly config: object;
  readonly child: object;
}): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes)),
    fc.json().map((json) => Buffer.from(json)),
    manifestDocument(fixtures).map((document) => Buffer.from(JSON.stringify(document))),
    fc
      .tuple(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom("array" as const, "object" as const))
      .map(([depth, kind]) => deeplyNested(depth, kind)),
  );
}
