import { pushImage } from "../../test/harness/images/push.js";
import { getImage } from "../../test/harness/images/test-images.js";
import { type BenchContext, imageInfo } from "../context.js";
import type { ConcurrentResult } from "../results.js";
import { runConcurrent } from "./concurrent.js";

const LAYERS = 10;
const REPO = "library/huge";

/**
 * The memory bar: wharf's peak resident memory while 10 clients pull an image of
 * `gb` GiB (10 layers) from a cold cache at once. Only wharf: the bar is wharf's, and the other
 * servers would add minutes without telling anything about it.
 */
export async function runBig(ctx: BenchContext, gb: number): Promise<ConcurrentResult> {
  ctx.log(`generating the ${gb} GiB image (${LAYERS} layers; cached for later runs)`);
  const image = getImage("big", {
    bigLayerBytes: Math.round((gb * 2 ** 30) / LAYERS),
    bigLayerCount: LAYERS,
  });
  ctx.log(`pushing ${REPO} to the upstream`);
  await pushImage(image, ctx.upstream, `${REPO}:latest`, { timeoutMs: 30 * 60_000 });
  const img = { image, repo: REPO, info: imageInfo(image, REPO) };
  // generous: 10 skopeo processes each hash and write the whole image on a 2-core machine; one
  // round, since the bar is the peak memory, which rounds do not make less noisy
  return runConcurrent(ctx, img, [ctx.wharf], 60 * 60_000, 1);
}
