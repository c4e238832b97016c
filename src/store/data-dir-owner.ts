import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isNotFound } from "../util/fs-errors.js";

/**
 * A running server names itself in `<data>/wharf.pid`, so that commands which must not work beside
 * it (a prune would race its downloads, which only the server's own ingest guard sees) can tell
 * and refuse. A file left by a server that died names a process that is gone: it counts for nothing.
 */
const PID_FILE = "wharf.pid";

/** Writes this process's pid; the returned function removes the file if it is still ours. */
export async function claimDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, PID_FILE);
  await writeFile(path, `${process.pid}\n`);
  return async () => {
    if ((await ownerPid(path)) === process.pid) await rm(path, { force: true });
  };
}

/** The pid of the server running on `dataDir`, or undefined when none is. */
export async function runningServer(dataDir: string): Promise<number | undefined> {
  const pid = await ownerPid(join(dataDir, PID_FILE));
  if (pid === undefined) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    // Alive, but another user's: still a server on this directory.
    return (error as NodeJS.ErrnoException).code === "EPERM" ? pid : undefined;
  }
}

async function ownerPid(path: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}
