import { spawnSync } from "node:child_process";
import { atExit } from "./exit.js";
import { runCommand } from "./proc.js";

export interface Tmpfs {
  readonly dir: string;
  unmount(): Promise<void>;
}

/**
 * A size-limited tmpfs mounted on `dir` (needs root): a disk that fills up for real. Unmounted by
 * unmount() or, failing that, at process exit (lazily, so a process still holding files there
 * cannot keep the mount alive).
 */
export async function mountTmpfs(dir: string, size: string): Promise<Tmpfs> {
  await runCommand("mount", ["-n", "-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir]);
  let mounted = true;
  const unregister = atExit(() => {
    if (mounted) spawnSync("umount", ["-n", "-l", dir]);
  });
  return {
    dir,
    async unmount() {
      if (!mounted) return;
      mounted = false;
      unregister();
      await runCommand("umount", ["-n", "-l", dir]);
    },
  };
}
