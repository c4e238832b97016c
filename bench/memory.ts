import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const MiB = 1024 * 1024;
const CHUNK = Buffer.alloc(8 * MiB, 0x5a);

/** Writes `bytes` into a scratch file's page cache and deletes it: the milliseconds it took. */
async function writeAndDiscard(bytes: number): Promise<number> {
  const file = path.join(os.tmpdir(), `wharf-bench-memory-${process.pid}`);
  const started = performance.now();
  const handle = await fs.promises.open(file, "w");
  try {
    for (let written = 0; written < bytes; written += CHUNK.byteLength) await handle.write(CHUNK);
  } finally {
    await handle.close();
    // Unlinked before writeback: its pages go back to the free lists without touching the disk.
    await fs.promises.rm(file, { force: true });
  }
  return performance.now() - started;
}

export interface FirstTouchCost {
  /** Writing the probe's bytes into memory freed long enough ago to have been handed back. */
  handedBackMs: number;
  /** The same right after the first write's pages were freed. */
  justFreedMs: number;
  probeMiB: number;
}

/**
 * What the first touch of freed memory costs on this machine. A virtual machine may hand pages its
 * guest freed back to its host (virtio-balloon free page reporting, within a second of the free on
 * the bench's machines), and the guest's next touch of each then costs a fault in the host: 256 MiB
 * written into the page cache took 0.9 s on such memory, 0.08 s on memory just freed. Every pull
 * writes its layout, and a cold proxy its store too, so where this is high a run's figures depend
 * on what the step before it freed, and how long ago: the report prints it beside the machine.
 * (Touching the memory a run would write just before it, for every server alike, did not help: a
 * run of pulls and concurrent pulls with it gave wharf 1.12x of direct cold for 4 x 42 MB and
 * 0.98x for 40 layers, as without it, since what it frees is handed back within the run.)
 */
export async function measureFirstTouch(probeMiB = 256): Promise<FirstTouchCost> {
  // Freed pages are handed back within a second or two where the machine does it at all.
  await sleep(3_000);
  const handedBackMs = await writeAndDiscard(probeMiB * MiB);
  const justFreedMs = await writeAndDiscard(probeMiB * MiB);
  return { handedBackMs: Math.round(handedBackMs), justFreedMs: Math.round(justFreedMs), probeMiB };
}
