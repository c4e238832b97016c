import { isDeepStrictEqual } from "node:util";
import { streamGet } from "../http/requests.js";
import { expectedContent, type TestImage } from "../images/test-images.js";
import { makeTempDir, removeTempDir } from "../system/tmp.js";
import { skopeoCopy } from "./skopeo.js";

// Normal traffic that keeps running while a test does something else to the registry: skopeo
// pulls of one image and parallel GETs of its biggest layer, each result checked byte for byte.
// The test asserts at the end that every one of them came back exact.

export interface BackgroundPullOptions {
  /** Base URL of the registry, http://host:port. */
  url: string;
  /** host:port/name:tag of `image` in that registry. */
  ref: string;
  /** The image's name inside the registry, for the blob GETs. */
  name: string;
  image: TestImage;
  /** Concurrent blob GET loops; default 10. */
  blobLoops?: number;
}

export interface BackgroundPullReport {
  pulls: number;
  blobGets: number;
  /** One line per pull or GET that did not give back exactly the pushed bytes. */
  failures: string[];
}

export class BackgroundPulls {
  readonly #options: BackgroundPullOptions;
  readonly #report: BackgroundPullReport = { pulls: 0, blobGets: 0, failures: [] };
  #stopping = false;
  #loops: Promise<void>[] = [];

  constructor(options: BackgroundPullOptions) {
    this.#options = options;
  }

  start(): void {
    this.#loops = [
      this.#loop(() => this.#pull()),
      ...Array.from({ length: this.#options.blobLoops ?? 10 }, () => this.#loop(() => this.#getBlob())),
    ];
  }

  /** Lets the running pulls finish, then reports. */
  async stop(): Promise<BackgroundPullReport> {
    this.#stopping = true;
    await Promise.all(this.#loops);
    return this.#report;
  }

  async #loop(once: () => Promise<void>): Promise<void> {
    while (!this.#stopping) {
      try {
        await once();
      } catch (error) {
        this.#report.failures.push(error instanceof Error ? error.message : String(error));
      }
    }
  }

  async #pull(): Promise<void> {
    const dir = makeTempDir("background-pull");
    try {
      const { content } = await skopeoCopy(this.#options.ref, dir);
      if (!isDeepStrictEqual(content, expectedContent(this.#options.image))) {
        throw new Error(`skopeo pull ${this.#options.ref}: got ${JSON.stringify(content)}`);
      }
      this.#report.pulls++;
    } finally {
      await removeTempDir(dir);
    }
  }

  async #getBlob(): Promise<void> {
    const layer = this.#biggestLayer();
    const got = await streamGet(this.#options.url, `/v2/${this.#options.name}/blobs/${layer.digest}`);
    if (got.status !== 200 || !got.complete || got.digest !== layer.digest || got.bytes !== layer.size) {
      throw new Error(`GET blob: ${got.status}, ${got.bytes} bytes, ${got.digest}, complete ${got.complete}`);
    }
    this.#report.blobGets++;
  }

  #biggestLayer(): { digest: string; size: number } {
    const blobs = [...this.#options.image.blobs].sort((a, b) => b.size - a.size);
    const biggest = blobs[0];
    if (!biggest) throw new Error(`${this.#options.image.name} has no blobs`);
    return biggest;
  }
}
