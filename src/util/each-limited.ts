/**
 * Runs `work(0)` … `work(count - 1)`, at most `limit` at once, in order of their index. After the
 * first failure nothing new starts; the running ones are waited for, then that failure is thrown,
 * so a caller cleaning up after it (aborting an upload) never races work still in progress.
 */
export async function eachLimited(
  count: number,
  limit: number,
  work: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < count) {
      const index = next++;
      try {
        await work(index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  if (failure) throw failure.error;
}
