/**
 * `read`, asked at most once every `ms` milliseconds: callers in between get its last answer. For
 * a check that is cheap but not free (a database's change counter), asked on every request.
 */
export function sampled<T>(read: () => T, ms: number, now: () => number = () => performance.now()): () => T {
  let last: { at: number; value: T } | undefined;
  return () => {
    const at = now();
    if (last === undefined || at - last.at >= ms) last = { at, value: read() };
    return last.value;
  };
}
