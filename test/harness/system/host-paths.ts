import fs from "node:fs";
import { atExit } from "./exit.js";

// Some clients create paths on the host whatever root/state dirs they are given (see the table
// "Host side effects" in the clients lab). Each is removed at exit if this process saw it absent
// before its first client ran; a path that existed belongs to someone else and is left alone.

const tracked = new Set<string>();

/**
 * Call before running a client that may create `hostPath`. `remove` lists what to delete, deepest
 * first: "-r PATH" for a whole tree, plain PATH for a directory removed only if empty.
 */
export function removeAtExitIfNew(hostPath: string, remove: string[] = [`-r ${hostPath}`]): void {
  if (tracked.has(hostPath)) return;
  tracked.add(hostPath);
  if (fs.existsSync(hostPath)) return;
  atExit(() => {
    for (const item of remove) {
      try {
        if (item.startsWith("-r ")) fs.rmSync(item.slice(3), { recursive: true, force: true });
        else fs.rmdirSync(item);
      } catch {
        // not empty (someone else uses it) or already gone
      }
    }
  });
}
