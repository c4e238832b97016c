import type { BenchImage } from "./context.js";
import { pullConcurrently } from "./pull.js";
import type { PullTarget } from "./targets.js";

const WARM_UP_TIMEOUT_MS = 120_000;

/**
 * Restarts `target` on an empty cache, then has it serve the warm-up images (sharing no blob with
 * the measured ones), untimed. A cold pull measures a cold cache, not a process that has served
 * nothing yet: a just-started node runs its first requests in the interpreter (its first 40 MB
 * download went at half the speed of the next ones here), which a site's long-running server never
 * does. docker-registry gets the same, though Go has no such warm-up.
 */
export async function coldStart(target: PullTarget, warmUp: readonly BenchImage[]): Promise<void> {
  await target.reset();
  for (const img of warmUp) {
    const outcome = await pullConcurrently(target, img.repo, img.image, 1, WARM_UP_TIMEOUT_MS);
    const failed = outcome.clients.find((client) => !client.ok);
    if (failed) throw new Error(`warm-up pull of ${img.repo} through ${target.name} failed: ${failed.error}`);
  }
}
