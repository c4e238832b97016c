import assert from "node:assert/strict";
import { describe, mock, test } from "node:test";
import fc from "fast-check";
import { digestOf } from "../../src/oci/digest.js";
import { MAX_MANIFEST_BYTES, type ManifestInfo, parseManifest } from "../../src/oci/manifest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { assertThrowsOci, checkProperty, resultOrOciError, withoutHanging } from "./helpers.js";
import { deeplyNested, manifestContentType, manifestDocument } from "./hostile-input.js";

const CONFIG_TYPE = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_CONFIG_TYPE = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip";

function descriptorOf(mediaType: string, content: string, extra: Record<string, unknown> = {}) {
  return { mediaType, digest: digestOf(Buffer.from(content)), size: Buffer.byteLength(content), ...extra };
}

const config = descriptorOf(CONFIG_TYPE, "{}");
const layers = [descriptorOf(LAYER_TYPE, "layer one"), descriptorOf(LAYER_TYPE, "layer two")];
const child = descriptorOf(MediaType.ociManifest, "child", {
  platform: { architecture: "amd64", os: "linux" },
});
const subject = descriptorOf(MediaType.ociManifest, "subject");

function ociManifest(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers, ...fields };
}

function ociIndex(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [child], ...fields };
}

function without(document: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _removed, ...rest } = document;
  return rest;
}

function bytesOf(document: unknown): Buffer {
  return Buffer.from(JSON.stringify(document));
}

function parse(document: unknown, contentType?: string): ManifestInfo {
  return parseManifest(bytesOf(document), contentType);
}

function assertInvalid(bytes: Uint8Array, contentType?: string, status = 400): void {
  assertThrowsOci(() => parseManifest(bytes, contentType), "MANIFEST_INVALID", status);
}

describe("parseManifest: what it accepts", () => {
  test("an OCI image manifest: config and layers are its blobs, the config type its artifactType", () => {
    const info = parse(ociManifest());
    assert.deepEqual(info, {
      mediaType: MediaType.ociManifest,
      kind: "image",
      blobs: [config, ...layers],
      manifests: [],
      artifactType: CONFIG_TYPE,
    });
  });

  test("an OCI index: its manifests, with platforms, and no blobs", () => {
    const info = parse(ociIndex());
    assert.deepEqual(info, { mediaType: MediaType.ociIndex, kind: "index", blobs: [], manifests: [child] });
  });

  test("a Docker schema 2 manifest", () => {
    const dockerConfig = descriptorOf(DOCKER_CONFIG_TYPE, "{}");
    const dockerLayer = descriptorOf(DOCKER_LAYER_TYPE, "layer");
    const info = parse(
      { schemaVersion: 2, mediaType: MediaType.dockerManifest, config: dockerConfig, layers: [dockerLayer] },
      MediaType.dockerManifest,
    );
    assert.equal(info.kind, "image");
    assert.equal(info.mediaType, MediaType.dockerManifest);
    assert.deepEqual(info.blobs, [dockerConfig, dockerLayer]);
  });

  test("a Docker manifest list", () => {
    const entry = descriptorOf(MediaType.dockerManifest, "amd64", {
      platform: { architecture: "amd64", os: "linux" },
    });
    const info = parse({ schemaVersion: 2, mediaType: MediaType.dockerManifestList, manifests: [entry] });
    assert.equal(info.kind, "index");
    assert.equal(info.mediaType, MediaType.dockerManifestList);
    assert.deepEqual(info.manifests, [entry]);
  });

  test("an artifact manifest with subject, artifactType and annotations", () => {
    const emptyConfig = descriptorOf(MediaType.ociEmpty, "{}");
    const annotations = { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" };
    const info = parse(
      ociManifest({
        config: emptyConfig,
        artifactType: "application/vnd.example.sbom",
        subject,
        annotations,
      }),
    );
    assert.equal(info.artifactType, "application/vnd.example.sbom");
    assert.deepEqual(info.subject, subject);
    assert.deepEqual(info.annotations, annotations);
  });

  test("an index with subject and artifactType", () => {
    const info = parse(ociIndex({ subject, artifactType: "application/vnd.example.bundle" }));
    assert.deepEqual(info.subject, subject);
    assert.equal(info.artifactType, "application/vnd.example.bundle");
  });

  test("descriptor annotations and artifactType are kept", () => {
    const layer = descriptorOf(LAYER_TYPE, "x", { annotations: { a: "b" }, artifactType: "t" });
    assert.deepEqual(parse(ociManifest({ layers: [layer] })).blobs[1], layer);
  });

  test("a manifest without layers has only its config as a blob", () => {
    assert.deepEqual(parse(without(ociManifest(), "layers")).blobs, [config]);
    assert.deepEqual(parse(ociManifest({ layers: null })).blobs, [config]);
  });

  const inferred: ReadonlyArray<readonly [string, Record<string, unknown>, string | undefined, string]> = [
    ["an image from its config", without(ociManifest(), "mediaType"), undefined, MediaType.ociManifest],
    ["an index from its manifests", without(ociIndex(), "mediaType"), undefined, MediaType.ociIndex],
    [
      "an image from Content-Type",
      without(ociManifest(), "mediaType"),
      MediaType.dockerManifest,
      MediaType.dockerManifest,
    ],
    [
      "an index from Content-Type with parameters and case",
      without(ociIndex(), "mediaType"),
      "Application/VND.Docker.Distribution.Manifest.List.v2+JSON; charset=utf-8",
      MediaType.dockerManifestList,
    ],
  ];
  for (const [why, document, contentType, expected] of inferred) {
    test(`a missing mediaType is inferred: ${why}`, () => {
      assert.equal(parse(document, contentType).mediaType, expected);
    });
  }

  const agreeing: ReadonlyArray<readonly [string, string]> = [
    ["the same type", MediaType.ociManifest],
    ["the same type with parameters", `${MediaType.ociManifest}; charset=utf-8`],
    ["a generic JSON type", "application/json"],
    ["an octet stream", "application/octet-stream"],
  ];
  for (const [why, contentType] of agreeing) {
    test(`a declared mediaType stands with Content-Type of ${why}`, () => {
      assert.equal(parse(ociManifest(), contentType).mediaType, MediaType.ociManifest);
    });
  }

  test("a manifest of exactly the size limit is accepted", () => {
    const json = JSON.stringify(ociManifest());
    const padded = Buffer.from(json + " ".repeat(MAX_MANIFEST_BYTES - json.length));
    assert.equal(padded.byteLength, MAX_MANIFEST_BYTES);
    assert.equal(parseManifest(padded).kind, "image");
  });

  test("bytes that are a view into a larger buffer are read from the view only", () => {
    const json = bytesOf(ociManifest());
    const larger = Buffer.concat([Buffer.from("garbage"), json, Buffer.from("garbage")]);
    const view = new Uint8Array(larger.buffer, larger.byteOffset + 7, json.byteLength);
    assert.equal(parseManifest(view).kind, "image");
  });

  test("schema 1: blobSums become size-less blobs, unreadable ones are skipped", () => {
    const sums = [digestOf(Buffer.from("a")), digestOf(Buffer.from("b"))];
    const document = {
      schemaVersion: 1,
      name: "library/busybox",
      tag: "latest",
      fsLayers: [{ blobSum: sums[0] }, { blobSum: "not-a-digest" }, { blobSum: sums[1] }, "junk", {}],
    };
    for (const mediaType of [MediaType.dockerSchema1Signed, MediaType.dockerSchema1]) {
      const info = parse({ ...document, mediaType });
      assert.equal(info.kind, "schema1");
      assert.equal(info.mediaType, mediaType);
      assert.deepEqual(
        info.blobs.map((blob) => blob.digest),
        sums,
      );
      assert.ok(info.blobs.every((blob) => blob.size === -1));
    }
    assert.equal(parse(document).mediaType, MediaType.dockerSchema1Signed);
    assert.equal(parse(document, MediaType.dockerSchema1).mediaType, MediaType.dockerSchema1);
  });
});

describe("parseManifest: what it refuses with MANIFEST_INVALID", () => {
  test("more than 4 MiB, with status 413", () => {
    const json = JSON.stringify(ociManifest());
    assertInvalid(Buffer.from(json + " ".repeat(MAX_MANIFEST_BYTES - json.length + 1)), undefined, 413);
  });

  const notDocuments: ReadonlyArray<readonly [string, string]> = [
    ["empty input", ""],
    ["not JSON", "this is not json"],
    ["truncated JSON", JSON.stringify(ociManifest()).slice(0, -1)],
    ["a JSON array", "[]"],
    ["a JSON string", '"manifest"'],
    ["a JSON number", "2"],
    ["null", "null"],
    ["a byte-order mark", `\ufeff${JSON.stringify(ociManifest())}`],
    ["100k nested arrays", deeplyNested(100_000, "array").toString()],
    ["100k nested objects", deeplyNested(100_000, "object").toString()],
    ["an unterminated 100k nesting", "[".repeat(100_000)],
  ];
  for (const [why, text] of notDocuments) {
    test(why, () => assertInvalid(Buffer.from(text)));
  }

  test("invalid UTF-8", () => assertInvalid(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])));

  test("4 MiB of nesting is refused before JSON.parse spends seconds on it", () => {
    // `[` + `]` is 2 bytes a level, `{"a":` + `}` 6. Whether JSON.parse ran is counted, not timed.
    const parse = mock.method(JSON, "parse");
    try {
      for (const [kind, depth] of [
        ["array", MAX_MANIFEST_BYTES / 2],
        ["object", Math.floor((MAX_MANIFEST_BYTES - 1) / 6)],
      ] as const) {
        const error = withoutHanging(() =>
          assertThrowsOci(() => parseManifest(deeplyNested(depth, kind)), "MANIFEST_INVALID"),
        );
        assert.match(error.message, /nests deeper/);
        assert.equal(parse.mock.callCount(), 0, `${kind}: JSON.parse was given the document`);
      }
      // the control: three levels (no manifest, but no deeper than one) do reach JSON.parse
      assertThrowsOci(() => parseManifest(deeplyNested(3, "array")), "MANIFEST_INVALID");
      assert.equal(parse.mock.callCount(), 1, "the spy sees parseManifest's JSON.parse");
    } finally {
      parse.mock.restore();
    }
  });

  test("nesting is counted outside strings only: brackets in annotations are text", () => {
    const brackets = "[{".repeat(100);
    const info = parse(ociManifest({ annotations: { "org.example.brackets": brackets, 'quote"[': "\\[" } }));
    assert.equal(info.annotations?.["org.example.brackets"], brackets);
  });

  test("a manifest nested 64 levels deep in an unknown field is still read; 65 is refused", () => {
    const nested = (levels: number): unknown => (levels === 0 ? 1 : { x: nested(levels - 1) });
    // The document itself is the first level.
    assert.equal(parse(ociManifest({ extension: nested(63) })).kind, "image");
    assertInvalid(bytesOf(ociManifest({ extension: nested(64) })));
  });

  const badDocuments: ReadonlyArray<readonly [string, Record<string, unknown>, string?]> = [
    ["an object that is no kind of manifest", {}],
    ["mediaType disagreeing with Content-Type", ociManifest(), MediaType.dockerManifest],
    ["an index type against an image Content-Type", ociIndex(), MediaType.ociManifest],
    ["an unknown mediaType", ociManifest({ mediaType: "application/vnd.oci.artifact.manifest.v1+json" })],
    ["an upper-case mediaType", ociManifest({ mediaType: MediaType.ociManifest.toUpperCase() })],
    ["a mediaType that is not a string", ociManifest({ mediaType: 5 })],
    ["schemaVersion 1 on an OCI manifest", ociManifest({ schemaVersion: 1 })],
    ["schemaVersion 3", ociManifest({ schemaVersion: 3 })],
    ["schemaVersion as a string", ociManifest({ schemaVersion: "2" })],
    ["no schemaVersion", without(ociManifest(), "schemaVersion")],
    ["no config", without(ociManifest(), "config")],
    ["config not an object", ociManifest({ config: "sha256:abc" })],
    ["layers not an array", ociManifest({ layers: { 0: layers[0] } })],
    ["a layer that is not an object", ociManifest({ layers: ["x"] })],
    ["a negative size", ociManifest({ layers: [{ ...layers[0], size: -1 }] })],
    ["a fractional size", ociManifest({ layers: [{ ...layers[0], size: 1.5 }] })],
    ["a size beyond 2^53", ociManifest({ layers: [{ ...layers[0], size: 2 ** 53 }] })],
    ["a size as a string", ociManifest({ config: { ...config, size: "2" } })],
    ["no size", ociManifest({ config: without(config, "size") })],
    ["an invalid digest", ociManifest({ layers: [{ ...layers[0], digest: "sha256:abc" }] })],
    ["an upper-case digest", ociManifest({ config: { ...config, digest: config.digest.toUpperCase() } })],
    ["no digest", ociManifest({ config: without(config, "digest") })],
    ["an empty descriptor mediaType", ociManifest({ config: { ...config, mediaType: "" } })],
    [
      "a descriptor artifactType that is not a string",
      ociManifest({ config: { ...config, artifactType: 1 } }),
    ],
    ["a platform that is not an object", ociIndex({ manifests: [{ ...child, platform: "linux/amd64" }] })],
    ["descriptor annotations with a number", ociManifest({ config: { ...config, annotations: { a: 1 } } })],
    ["annotations that are an array", ociManifest({ annotations: ["a"] })],
    ["annotations with a nested object", ociManifest({ annotations: { a: { b: "c" } } })],
    ["an artifactType that is not a string", ociManifest({ artifactType: ["x"] })],
    ["a subject that is not a descriptor", ociManifest({ subject: "sha256:abc" })],
    ["a subject with a bad digest", ociManifest({ subject: { ...subject, digest: "md5:x" } })],
    ["an index without manifests", without(ociIndex(), "manifests")],
    ["an index whose manifests is an object", ociIndex({ manifests: {} })],
    ["an index entry with a bad size", ociIndex({ manifests: [{ ...child, size: -5 }] })],
  ];
  for (const [why, document, contentType] of badDocuments) {
    test(why, () => assertInvalid(bytesOf(document), contentType));
  }
});

describe("parseManifest: properties", () => {
  function check(bytes: Uint8Array, contentType?: string): void {
    const result = resultOrOciError(() => parseManifest(bytes, contentType), ["MANIFEST_INVALID"]);
    if (result instanceof Error) return;
    for (const blob of [...result.blobs, ...result.manifests]) {
      assert.ok(blob.size === -1 || (Number.isSafeInteger(blob.size) && blob.size >= 0));
      assert.match(blob.digest, /^sha(256|512):[0-9a-f]+$/);
    }
  }
  const contentType = manifestContentType;

  test("random bytes give a ManifestInfo or MANIFEST_INVALID, nothing else", () => {
    checkProperty(fc.property(fc.uint8Array({ maxLength: 512 }), contentType, check), 500);
  });

  test("random JSON gives a ManifestInfo or MANIFEST_INVALID, nothing else", () => {
    checkProperty(
      fc.property(fc.json(), contentType, (json, type) => check(Buffer.from(json), type)),
      300,
    );
  });

  test("manifest-shaped documents with random field values give a ManifestInfo or MANIFEST_INVALID", () => {
    checkProperty(
      fc.property(manifestDocument({ config, child }), contentType, (doc, type) => check(bytesOf(doc), type)),
      500,
    );
  });
});
