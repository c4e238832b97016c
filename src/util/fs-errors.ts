/** Whether a filesystem call failed because the path does not exist. */
export function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

/** Whether a write failed because the disk (or the user's quota, or SQLite's file) is full, here or in a cause. */
export function isNoSpace(error: unknown): boolean {
  for (let cause = error, depth = 0; cause !== undefined && depth < 5; depth++) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL") return true;
    cause = (cause as { cause?: unknown } | undefined)?.cause;
  }
  return false;
}
