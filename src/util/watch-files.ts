import { type FSWatcher, watch } from "node:fs";
import { stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";

export interface WatchFilesOptions {
  /** The stat comparison also runs this often, for changes fs.watch misses. */
  readonly pollMs: number;
  /** Events are gathered this long before the files are compared (a writer touches them several times). */
  readonly settleMs: number;
  /** fs.watch failed for a directory; polling still covers it. */
  readonly onWatchError?: (directory: string, error: Error) => void;
}

export interface FileWatch {
  close(): void;
}

/** What identifies a file's content cheaply: a rename brings a new inode, an in-place write new times. */
async function signature(paths: readonly string[]): Promise<string> {
  const parts = await Promise.all(
    paths.map((path) =>
      stat(path).then(
        (s) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`,
        (error: NodeJS.ErrnoException) => `missing:${error.code ?? "?"}`,
      ),
    ),
  );
  return parts.join("|");
}

/**
 * Calls `onChange` when any of `paths` changes, appears or disappears. The directories are
 * watched rather than the files: editors, `mv` and cert-manager replace a file by renaming
 * another over it (Kubernetes swaps a `..data` symlink next to it), which a watch on the old
 * inode never sees. fs.watch is not reliable everywhere (network filesystems, a replaced
 * directory, inotify limits), so a periodic stat comparison backs it up.
 */
export async function watchFiles(
  paths: readonly string[],
  onChange: () => void,
  options: WatchFilesOptions,
): Promise<FileWatch> {
  const absolute = paths.map((path) => resolve(path));
  let last = await signature(absolute);
  let closed = false;
  let checking = false;
  let checkAgain = false;
  const check = async (): Promise<void> => {
    if (checking) {
      checkAgain = true;
      return;
    }
    checking = true;
    try {
      do {
        checkAgain = false;
        const now = await signature(absolute);
        if (closed) return;
        if (now !== last) {
          last = now;
          onChange();
        }
      } while (checkAgain);
    } finally {
      checking = false;
    }
  };

  let settle: NodeJS.Timeout | undefined;
  const soon = () => {
    clearTimeout(settle);
    settle = setTimeout(() => void check(), options.settleMs);
    settle.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const directory of new Set(absolute.map((path) => dirname(path)))) {
    try {
      const watcher = watch(directory, { persistent: false }, soon);
      watcher.on("error", (error) => {
        watcher.close();
        options.onWatchError?.(directory, error);
      });
      watchers.push(watcher);
    } catch (error) {
      options.onWatchError?.(directory, error as Error);
    }
  }
  const poll = setInterval(() => void check(), options.pollMs);
  poll.unref();

  return {
    close() {
      closed = true;
      clearTimeout(settle);
      clearInterval(poll);
      for (const watcher of watchers) watcher.close();
    },
  };
}
