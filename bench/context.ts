import type { TestImage } from "../test/harness/images/test-images.js";
import type { Upstream } from "../test/harness/upstream/docker-registry.js";
import type { LoadClient } from "./http-load.js";
import type { ImageInfo } from "./results.js";
import type { PullTarget } from "./targets.js";

/** A generated image as pushed to the upstream. */
export interface BenchImage {
  image: TestImage;
  /** Repository on the upstream, e.g. library/big; pulled by its tag latest. */
  repo: string;
  info: ImageInfo;
}

/** What every scenario runs against: the same upstream, images and proxies for the whole run. */
export interface BenchContext {
  upstream: Upstream;
  wharf: PullTarget;
  registry: PullTarget;
  /** nginx's proxy_cache: what a cache that only stores bytes adds to a pull. */
  nginxCache: PullTarget;
  direct: PullTarget;
  /** The 4-layer image. */
  big: BenchImage;
  /** The 40-layer image. */
  many: BenchImage;
  /** Images a restarted proxy serves before a cold measurement (see warm-up.ts). */
  warmUp: readonly BenchImage[];
  rounds: number;
  client: LoadClient;
  log(message: string): void;
  note(message: string): void;
}

export function imageInfo(image: TestImage, repo: string): ImageInfo {
  const manifest = image.manifests[0];
  return {
    name: image.name,
    repo,
    layers: manifest?.layers.length ?? 0,
    layerBytes: manifest?.layers[0]?.size ?? 0,
    totalBytes: image.totalBytes,
    digest: image.digest,
  };
}
