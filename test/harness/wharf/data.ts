import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

// What wharf keeps in its data directory: blobs/<algorithm>/<xx>/<hex> for verified content,
// tmp/ for downloads in progress (see src/store/fs-blob-store.ts and spool.ts).

/** Digests of every file in the blob store. */
export function storedDigests(dataDir: string): string[] {
  const root = path.join(dataDir, "blobs");
  const found: string[] = [];
  if (!fs.existsSync(root)) return found;
  for (const algorithm of fs.readdirSync(root))
    for (const fanout of fs.readdirSync(path.join(root, algorithm)))
      for (const hex of fs.readdirSync(path.join(root, algorithm, fanout))) found.push(`${algorithm}:${hex}`);
  return found.sort();
}

/**
 * The stored digests once all of `wanted` are among them, or as they are at the deadline. A client
 * has the last byte as soon as the digest checks out; the store's fsync and rename come after.
 */
export async function waitStored(dataDir: string, wanted: string[], timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stored = storedDigests(dataDir);
    if (wanted.every((digest) => stored.includes(digest)) || Date.now() > deadline) return stored;
    await sleep(50);
  }
}

/** The blob file wharf would serve for `digest`. */
export function blobPath(dataDir: string, digest: string): string {
  const [algorithm = "", hex = ""] = digest.split(":");
  return path.join(dataDir, "blobs", algorithm, hex.slice(0, 2), hex);
}

/** Names in the spool (tmp/). */
export function spoolEntries(dataDir: string): string[] {
  const dir = path.join(dataDir, "tmp");
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

/** Waits until the spool is empty (a failed download's file is removed once its readers left). */
export async function waitSpoolEmpty(dataDir: string, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = spoolEntries(dataDir);
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(50);
  }
}
