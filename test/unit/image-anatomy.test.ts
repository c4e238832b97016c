// What the image page shows, read from stored content only: an index's platforms (attestations
// left out, entries not pulled marked so), each image's config facts and layers, artifacts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import {
  anatomyOf,
  configFacts,
  kindOf,
  platformsOf,
  type StoredContent,
} from "../../src/ops/image-anatomy.js";

const CONFIG = "application/vnd.oci.image.config.v1+json";
const LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

function stored(): StoredContent & { put(bytes: Buffer, mediaType?: string): string } {
  const manifests = new Map<string, { bytes: Buffer; mediaType: string }>();
  const blobs = new Map<string, Buffer>();
  return {
    put(bytes, mediaType) {
      const digest = digestOf(bytes);
      if (mediaType) manifests.set(digest, { bytes, mediaType });
      else blobs.set(digest, bytes);
      return digest;
    },
    manifest: async (digest) => manifests.get(digest),
    document: async (digest) => blobs.get(digest),
    hasBlob: async (digest) => blobs.has(digest),
  };
}

function image(content: ReturnType<typeof stored>, os: string, architecture: string, extra: object = {}) {
  const config = Buffer.from(
    JSON.stringify({
      os,
      architecture,
      created: "2024-01-01T00:00:00Z",
      config: { Labels: { "org.opencontainers.image.source": "https://example.org/app", bad: 3 } },
      history: [
        { created_by: "ADD rootfs /", created: "2024-01-01T00:00:00Z" },
        { created_by: "ENV A=1", empty_layer: true },
      ],
      ...extra,
    }),
  );
  const layer = Buffer.from(`layer of ${os}/${architecture}`);
  const configDigest = content.put(config);
  const layerDigest = content.put(layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: CONFIG, digest: configDigest, size: config.length },
      layers: [
        { mediaType: LAYER, digest: layerDigest, size: layer.length },
        { mediaType: LAYER, digest: `sha256:${"0".repeat(64)}`, size: 5 },
      ],
    }),
  );
  return { manifest, digest: content.put(manifest, MediaType.ociManifest) };
}

describe("image anatomy", () => {
  test("an image: its platform from the config, created, labels (strings only), history, layers stored or not", async () => {
    const content = stored();
    const { digest } = image(content, "linux", "arm64", { variant: "v8" });
    const anatomy = await anatomyOf(content, digest);
    assert.equal(anatomy?.kind, "image");
    const [platform] = anatomy?.platforms ?? [];
    assert.equal(platform?.platform, "linux/arm64/v8");
    assert.equal(platform?.config?.created, "2024-01-01T00:00:00Z");
    assert.deepEqual(platform?.config?.labels, {
      "org.opencontainers.image.source": "https://example.org/app",
    });
    assert.deepEqual(
      platform?.config?.history.map((h) => [h.createdBy, h.emptyLayer]),
      [
        ["ADD rootfs /", false],
        ["ENV A=1", true],
      ],
    );
    assert.deepEqual(
      platform?.layers.map((l) => l.stored),
      [true, false],
    );
    assert.deepEqual(await platformsOf(content, digest), ["linux/arm64/v8"]);
    assert.equal(await anatomyOf(content, `sha256:${"f".repeat(64)}`), undefined);
  });

  test("an index: its platforms as listed, attestations left out, a platform never pulled marked unstored", async () => {
    const content = stored();
    const amd = image(content, "linux", "amd64");
    const armDigest = `sha256:${"a".repeat(64)}`;
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          {
            mediaType: MediaType.ociManifest,
            digest: amd.digest,
            size: amd.manifest.length,
            platform: { os: "linux", architecture: "amd64" },
          },
          {
            mediaType: MediaType.ociManifest,
            digest: armDigest,
            size: 10,
            platform: { os: "linux", architecture: "arm", variant: "v7" },
          },
          {
            mediaType: MediaType.ociManifest,
            digest: `sha256:${"b".repeat(64)}`,
            size: 10,
            platform: { os: "unknown", architecture: "unknown" },
            annotations: { "vnd.docker.reference.type": "attestation-manifest" },
          },
        ],
      }),
    );
    const digest = content.put(index, MediaType.ociIndex);
    const anatomy = await anatomyOf(content, digest);
    assert.equal(anatomy?.kind, "index");
    assert.deepEqual(
      anatomy?.platforms.map((p) => [p.platform, p.stored, p.layers.length]),
      [
        ["linux/amd64", true, 2],
        ["linux/arm/v7", false, 0],
      ],
    );
    assert.deepEqual(await platformsOf(content, digest), ["linux/amd64", "linux/arm/v7"]);
    assert.equal(kindOf(index, MediaType.ociIndex), "index");
  });

  test("a manifest whose config is no image config is an artifact; a broken config reads as empty facts", () => {
    const artifact = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        artifactType: "application/vnd.example.sbom",
        config: { mediaType: MediaType.ociEmpty, digest: digestOf(Buffer.from("{}")), size: 2 },
        layers: [],
      }),
    );
    assert.equal(kindOf(artifact, MediaType.ociManifest), "artifact");
    const facts = configFacts("sha256:x", Buffer.from("not json"));
    assert.deepEqual([facts.os, facts.created, facts.history, facts.labels], [null, null, [], {}]);
  });
});
