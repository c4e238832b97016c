import { constants } from "node:fs";
import { open } from "node:fs/promises";

/** Flushes a file's data so a rename after it cannot expose an empty or partial file after a crash. */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a directory entry, so a completed rename survives a crash. */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
