import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { gzipStored, tar } from "./tarball.js";
import {
  generateOnce,
  type ImageManifest,
  imageCacheRoot,
  LayoutWriter,
  layoutBytes,
  randomBytes,
  type TestImage,
} from "./test-images.js";

// Images that share layers, the way images built FROM one base do: the base's config and layers
// stay byte for byte, one layer of the image's own goes on top. For pushes that race on the
// shared blobs and for garbage collection that must keep what another image still uses.

const OWN_LAYER_BYTES = 96 * 1024;

interface BaseConfig {
  rootfs: { type: string; diff_ids: string[] };
  history?: Array<Record<string, string>>;
  config?: { Labels?: Record<string, string> };
}

const sha256 = (data: Buffer) => `sha256:${crypto.createHash("sha256").update(data).digest("hex")}`;

function derive(dir: string, base: TestImage, baseManifest: ImageManifest, label: string): TestImage {
  const w = new LayoutWriter(dir, "oci");
  for (const blob of [baseManifest.config, ...baseManifest.layers])
    w.put(blob.mediaType, layoutBytes(base, blob.digest));
  const archive = tar([
    { name: "opt" },
    { name: "opt/wharf-test" },
    { name: `opt/wharf-test/${label}.bin`, data: randomBytes(`derived/${label}`, OWN_LAYER_BYTES) },
  ]);
  const own = w.put(baseManifest.layers[0]?.mediaType ?? "", gzipStored(archive));
  const config = JSON.parse(layoutBytes(base, baseManifest.config.digest).toString()) as BaseConfig;
  config.rootfs.diff_ids.push(sha256(archive));
  config.history?.push({ created: "2024-01-01T00:00:00Z", created_by: `derived ${label}` });
  config.config = { ...config.config, Labels: { ...config.config?.Labels, "wharf.test.derived": label } };
  const configDesc = w.put(baseManifest.config.mediaType, Buffer.from(JSON.stringify(config)));
  const layers = [...baseManifest.layers, own];
  const manifest = { schemaVersion: 2, mediaType: base.mediaType, config: configDesc, layers };
  const top = w.put(base.mediaType, Buffer.from(JSON.stringify(manifest, null, 2)));
  w.finish(top);
  const blobs = [configDesc, ...layers].sort((a, b) => a.digest.localeCompare(b.digest));
  return {
    name: base.name,
    path: dir,
    transport: "oci",
    ref: `oci:${dir}:latest`,
    ...top,
    manifests: [{ ...top, config: configDesc, layers }],
    blobs,
    totalBytes: blobs.reduce((n, b) => n + b.size, 0) + top.size,
  };
}

/**
 * `base` (a single-platform OCI image) plus one layer of its own named by `label`: every image
 * derived from one base shares the base's layers. Generated once into the image cache.
 */
export function derivedImage(base: TestImage, label: string): TestImage {
  const baseManifest = base.manifests[0];
  if (base.transport !== "oci" || base.manifests.length !== 1 || !baseManifest)
    throw new Error(`derivedImage needs a single-platform OCI base, not ${base.name}`);
  const key = crypto.createHash("sha256").update(`${base.digest}/${label}`).digest("hex").slice(0, 16);
  const dir = path.join(imageCacheRoot(), `derived-${label}-${key}`);
  const metaFile = path.join(dir, "wharf-test-image.json");
  generateOnce(dir, (tmp) => {
    const image = derive(tmp, base, baseManifest, label);
    fs.writeFileSync(path.join(tmp, "wharf-test-image.json"), JSON.stringify(image));
  });
  const image = JSON.parse(fs.readFileSync(metaFile, "utf8")) as TestImage;
  // the paths recorded are the temp dir's: point them at the final place
  return { ...image, path: dir, ref: `oci:${dir}:latest` };
}
