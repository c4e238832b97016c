import { setTimeout as sleep } from "node:timers/promises";

/**
 * Polls `condition` until it holds (true) or `timeoutMs` has passed (false). For the few places
 * that wait on counters other code keeps, such as a stop waiting for requests to finish.
 */
export async function waitUntil(
  condition: () => boolean,
  timeoutMs: number,
  intervalMs = 50,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (condition()) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await sleep(Math.min(intervalMs, left));
  }
}
