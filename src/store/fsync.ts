import { constants } from "node:fs";
import { open } from "node:fs/promises";

/** Flushes a directory entry, so a completed rename survives a crash. */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
