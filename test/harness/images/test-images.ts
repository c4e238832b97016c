import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Descriptor, Platform } from "../types.js";
import { gzipStored, tar } from "./tarball.js";

export const MediaTypes = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

export type ImageName = "small" | "small-v2" | "docker" | "multi" | "many" | "big";

export interface ImageOptions {
  /** Changes every byte of every image; default 1. */
  seed?: number;
  /** Size of the random payload of each big layer; default 8 MiB (bench: 40 MiB). */
  bigLayerBytes?: number;
  /** Default 4. */
  bigLayerCount?: number;
}

export interface ImageManifest extends Descriptor {
  platform?: Platform;
  config: Descriptor;
  layers: Descriptor[];
}

export interface TestImage {
  name: ImageName;
  /** The layout directory. */
  path: string;
  transport: "oci" | "dir";
  /** skopeo source reference: oci:PATH:latest or dir:PATH. */
  ref: string;
  /** The top manifest (an index for multi). */
  digest: string;
  mediaType: string;
  size: number;
  /** The image manifest, or an index's child manifests. */
  manifests: ImageManifest[];
  /** Every config and layer blob, sorted by digest. */
  blobs: Descriptor[];
  /** Bytes of all blobs and manifests. */
  totalBytes: number;
}

/** What a client ends up with, in a form to compare byte-exactly with a generated image. */
export interface ImageContent {
  /** Digest of the manifest the client resolved the reference to. */
  digest: string;
  /** Child manifests, sorted (only when an index was copied whole). */
  manifests: string[];
  /** Config and layer blobs, sorted by digest. */
  blobs: Array<{ digest: string; size: number }>;
}

interface ImageSpec {
  name: ImageName;
  docker: boolean;
  /** Layer payload sizes per platform; more than one platform makes an index. */
  platforms: Array<{ platform: Platform; layers: number[] }>;
}

const GENERATOR_VERSION = 1;
const KiB = 1024;
const AMD64: Platform = { os: "linux", architecture: "amd64" };
const ARM64: Platform = { os: "linux", architecture: "arm64" };

function spec(name: ImageName, opts: ImageOptions): ImageSpec {
  const small = [128 * KiB, 320 * KiB, 576 * KiB];
  const single = (layers: number[], docker = false): ImageSpec => ({
    name,
    docker,
    platforms: [{ platform: AMD64, layers }],
  });
  switch (name) {
    case "small":
    case "small-v2":
      return single(small);
    case "docker":
      return single(small, true);
    case "many":
      return single(Array<number>(40).fill(64 * KiB));
    case "big":
      return single(Array<number>(opts.bigLayerCount ?? 4).fill(opts.bigLayerBytes ?? 8 * 1024 * KiB));
    case "multi":
      return {
        name,
        docker: false,
        platforms: [AMD64, ARM64].map((platform) => ({ platform, layers: [512 * KiB, 1536 * KiB] })),
      };
  }
}

const sha256 = (data: Buffer | string) => `sha256:${crypto.createHash("sha256").update(data).digest("hex")}`;

/** Incompressible bytes, the same for the same label on every run: AES-CTR keystream keyed by the label. */
export function randomBytes(label: string, n: number): Buffer {
  const key = crypto.createHash("sha256").update(label).digest();
  const cipher = crypto.createCipheriv("aes-128-ctr", key.subarray(0, 16), key.subarray(16, 32));
  return cipher.update(Buffer.alloc(n));
}

export class LayoutWriter {
  constructor(
    readonly dir: string,
    readonly transport: "oci" | "dir",
  ) {
    fs.mkdirSync(transport === "oci" ? path.join(dir, "blobs", "sha256") : dir, { recursive: true });
  }

  put(mediaType: string, data: Buffer): Descriptor {
    const digest = sha256(data);
    const hex = digest.slice("sha256:".length);
    const file =
      this.transport === "oci" ? path.join(this.dir, "blobs", "sha256", hex) : path.join(this.dir, hex);
    fs.writeFileSync(file, data);
    return { mediaType, digest, size: data.length };
  }

  /** Marks `top` as the image the layout's ref resolves to. */
  finish(top: Descriptor): void {
    if (this.transport === "oci") {
      fs.writeFileSync(path.join(this.dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
      const ref = { ...top, annotations: { "org.opencontainers.image.ref.name": "latest" } };
      const index = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [ref] };
      fs.writeFileSync(path.join(this.dir, "index.json"), JSON.stringify(index, null, 2));
      return;
    }
    // skopeo's dir: transport: the top manifest is manifest.json, blobs are named by hex digest
    const hex = top.digest.slice("sha256:".length);
    fs.renameSync(path.join(this.dir, hex), path.join(this.dir, "manifest.json"));
    fs.writeFileSync(path.join(this.dir, "version"), "Directory Transport Version: 1.1\n");
  }
}

function layer(label: string, index: number, payload: number): { gz: Buffer; diffId: string } {
  const base = `opt/wharf-test/${label}`;
  const archive = tar([
    { name: "opt" },
    { name: "opt/wharf-test" },
    { name: base },
    { name: `${base}/layer-${index}.txt`, data: Buffer.from(`wharf test image ${label} layer ${index}\n`) },
    { name: `${base}/layer-${index}.bin`, data: randomBytes(`${label}/layer-${index}`, payload) },
  ]);
  return { gz: gzipStored(archive), diffId: sha256(archive) };
}

function writeImage(
  w: LayoutWriter,
  s: ImageSpec,
  label: string,
  platform: Platform,
  layerSizes: number[],
): ImageManifest {
  const types = s.docker
    ? { manifest: MediaTypes.dockerManifest, config: MediaTypes.dockerConfig, layer: MediaTypes.dockerLayer }
    : { manifest: MediaTypes.ociManifest, config: MediaTypes.ociConfig, layer: MediaTypes.ociLayer };
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  layerSizes.forEach((size, i) => {
    const { gz, diffId } = layer(label, i, size);
    layers.push(w.put(types.layer, gz));
    diffIds.push(diffId);
  });
  const config = {
    architecture: platform.architecture,
    os: platform.os,
    created: "2024-01-01T00:00:00Z",
    config: { Env: ["PATH=/usr/bin:/bin"], Cmd: ["/bin/sh"], Labels: { "wharf.test.image": s.name } },
    rootfs: { type: "layers", diff_ids: diffIds },
    history: layerSizes.map((_, i) => ({
      created: "2024-01-01T00:00:00Z",
      created_by: `${label} layer ${i}`,
    })),
  };
  const configDesc = w.put(types.config, Buffer.from(JSON.stringify(config)));
  const manifest = {
    schemaVersion: 2,
    mediaType: types.manifest,
    config: configDesc,
    layers,
    ...(s.docker ? {} : { annotations: { "org.opencontainers.image.title": `wharf-test-${s.name}` } }),
  };
  const desc = w.put(types.manifest, Buffer.from(JSON.stringify(manifest, null, 2)));
  return { ...desc, config: configDesc, layers };
}

type ImageMeta = Omit<TestImage, "path" | "ref">;

function generate(dir: string, s: ImageSpec, seed: number): ImageMeta {
  const transport = s.docker ? "dir" : "oci";
  const w = new LayoutWriter(dir, transport);
  const multi = s.platforms.length > 1;
  const manifests = s.platforms.map(({ platform, layers }) => {
    const label = `${seed}/${s.name}${multi ? `-${platform.architecture}` : ""}`;
    const m = writeImage(w, s, label, platform, layers);
    return multi ? { ...m, platform } : m;
  });
  let top: Descriptor = manifests[0] as ImageManifest;
  if (multi) {
    const index = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: manifests.map(({ mediaType, digest, size, platform }) => ({
        mediaType,
        digest,
        size,
        platform,
      })),
    };
    top = w.put(MediaTypes.ociIndex, Buffer.from(JSON.stringify(index, null, 2)));
  }
  w.finish(top);
  const unique = new Map<string, Descriptor>();
  for (const m of manifests) for (const b of [m.config, ...m.layers]) unique.set(b.digest, b);
  const blobs = [...unique.values()].sort((a, b) => a.digest.localeCompare(b.digest));
  const totalBytes =
    blobs.reduce((n, b) => n + b.size, 0) +
    manifests.reduce((n, m) => n + m.size, 0) +
    (multi ? top.size : 0);
  return { name: s.name, transport, ...top, manifests, blobs, totalBytes };
}

function withPaths(dir: string, meta: ImageMeta): TestImage {
  return { ...meta, path: dir, ref: meta.transport === "oci" ? `oci:${dir}:latest` : `dir:${dir}` };
}

/** WHARF_TEST_IMAGES overrides where generated images are cached between runs. */
export function imageCacheRoot(): string {
  return process.env.WHARF_TEST_IMAGES ?? path.join(os.tmpdir(), "wharf-test-images");
}

const memo = new Map<string, TestImage>();

/** Runs `write` into a fresh directory and renames it to `dir`, so concurrent test processes never see half an image. */
export function generateOnce(dir: string, write: (tmp: string) => void): void {
  if (fs.existsSync(dir)) return;
  const root = path.dirname(dir);
  fs.mkdirSync(root, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(root, `.${path.basename(dir)}-`));
  write(tmp);
  try {
    fs.renameSync(tmp, dir);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * A deterministic test image, generated once into a cache directory keyed by its parameters
 * (so every test file and every run shares it), then reused.
 */
export function getImage(name: ImageName, opts: ImageOptions = {}): TestImage {
  const seed = opts.seed ?? 1;
  const s = spec(name, opts);
  const key = crypto
    .createHash("sha256")
    .update(JSON.stringify({ v: GENERATOR_VERSION, seed, s }))
    .digest("hex")
    .slice(0, 16);
  const cached = memo.get(key);
  if (cached) return cached;
  const root = imageCacheRoot();
  const dir = path.join(root, `${name}-${key}`);
  const metaFile = path.join(dir, "wharf-test-image.json");
  generateOnce(dir, (tmp) => {
    const meta = generate(tmp, s, seed);
    fs.writeFileSync(path.join(tmp, "wharf-test-image.json"), JSON.stringify(meta));
  });
  const image = withPaths(dir, JSON.parse(fs.readFileSync(metaFile, "utf8")) as ImageMeta);
  memo.set(key, image);
  return image;
}

const byDigest = (a: { digest: string }, b: { digest: string }) => a.digest.localeCompare(b.digest);

/**
 * What a client should end up with after copying the image: the whole index with `all`, otherwise
 * the manifest for `platform` (default linux/amd64, this machine's).
 */
export function expectedContent(
  image: TestImage,
  opts: { all?: boolean; platform?: Platform } = {},
): ImageContent {
  const strip = (d: Descriptor) => ({ digest: d.digest, size: d.size });
  if (image.mediaType === MediaTypes.ociIndex && opts.all) {
    return {
      digest: image.digest,
      manifests: image.manifests.map((m) => m.digest).sort(),
      blobs: image.blobs.map(strip),
    };
  }
  const want = opts.platform ?? AMD64;
  const m =
    image.manifests.find(
      (x) => !x.platform || (x.platform.os === want.os && x.platform.architecture === want.architecture),
    ) ?? image.manifests[0];
  if (!m) throw new Error(`image ${image.name} has no manifest`);
  return { digest: m.digest, manifests: [], blobs: [m.config, ...m.layers].map(strip).sort(byDigest) };
}

/** Every digest a content store holds after a pull: manifests, configs and layers. */
export function allDigests(content: ImageContent): string[] {
  return [content.digest, ...content.manifests, ...content.blobs.map((b) => b.digest)].sort();
}

/** The bytes of one manifest or blob of a generated image, read from its layout. */
export function layoutBytes(image: TestImage, digest: string): Buffer {
  const hex = digest.slice("sha256:".length);
  if (image.transport === "oci") return fs.readFileSync(path.join(image.path, "blobs", "sha256", hex));
  // skopeo's dir: names the top manifest manifest.json
  return fs.readFileSync(path.join(image.path, digest === image.digest ? "manifest.json" : hex));
}
