import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { ImageContent } from "./test-images.js";

function fileDigest(file: string): string {
  return `sha256:${crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex")}`;
}

/**
 * Reads a skopeo dir: layout, re-hashing every blob against its file name: manifest.json is the
 * top manifest, <hex>.manifest.json are an index's instances, <hex> are configs and layers.
 */
export function readDirLayout(dir: string): ImageContent {
  const manifests: string[] = [];
  const blobs: Array<{ digest: string; size: number }> = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    const instance = /^([0-9a-f]{64})\.manifest\.json$/.exec(name);
    const hex = instance?.[1] ?? (/^[0-9a-f]{64}$/.test(name) ? name : undefined);
    if (!hex) continue;
    const actual = fileDigest(file);
    if (actual !== `sha256:${hex}`) throw new Error(`${file}: content hashes to ${actual}`);
    if (instance) manifests.push(actual);
    else blobs.push({ digest: actual, size: fs.statSync(file).size });
  }
  return { digest: fileDigest(path.join(dir, "manifest.json")), manifests, blobs };
}
