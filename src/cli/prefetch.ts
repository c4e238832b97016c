import { readFile } from "node:fs/promises";
import { MultiBar, Presets, type SingleBar } from "cli-progress";
import type { Command } from "commander";
import { Agent, interceptors } from "undici";
import { type ImageReference, parseImageReference } from "../oci/image-reference.js";
import { type Platform, parsePlatform } from "../oci/platform.js";
import { type BlobOutcome, type PrefetchBlob, type PrefetchEvents, prefetch } from "../ops/prefetch.js";
import { PullClient } from "../ops/pull-client.js";
import { formatBytes } from "../util/format-bytes.js";
import { VERSION } from "../version.js";
import { type InstanceOptions, instanceUrl } from "./instance.js";
import { withConfigOptions } from "./options.js";
import { readStdinSecret } from "./stdin.js";

interface PrefetchCommandOptions extends InstanceOptions {
  file?: string;
  platform?: string;
  user?: string;
  passwordStdin?: boolean;
}

/** Image references from a file: one a line; `#` starts a comment, blank lines are skipped. */
export function imagesInFile(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.replace(/(^|\s)#.*$/, "").trim())
    .filter((line) => line !== "");
}

export function parsePlatforms(text: string): Platform[] {
  return text.split(",").map((part) => {
    const platform = parsePlatform(part);
    if (!platform) throw new Error(`--platform ${part} is not os/arch or os/arch/variant`);
    return platform;
  });
}

async function credentials(
  options: PrefetchCommandOptions,
): Promise<{ username: string; password: string } | undefined> {
  if (options.user === undefined) return undefined;
  const password = options.passwordStdin ? await readStdinSecret() : process.env.WHARF_PASSWORD;
  if (password === undefined || password === "") {
    throw new Error(`--user ${options.user} needs a password: --password-stdin, or WHARF_PASSWORD`);
  }
  return { username: options.user, password };
}

/** `sha256:0123456789ab`: enough of a digest to tell the layers of one image apart. */
function shortDigest(digest: string): string {
  return digest.slice(0, digest.indexOf(":") + 13);
}

/** One line per blob when it is done: digest, size, cached or fetched, the image it was pulled for. */
export function blobLine(blob: PrefetchBlob, bytes: number, outcome: BlobOutcome): string {
  return `${blob.digest} ${formatBytes(bytes)} ${outcome} ${blob.image}`;
}

/** Progress for people: a bar per blob in flight, finished blobs as lines above the bars. */
function terminalEvents(): { events: PrefetchEvents; stop(): void } {
  const bars = new MultiBar(
    {
      stream: process.stdout,
      format: " {label} |{bar}| {done} / {total_text}",
      barsize: 30,
      hideCursor: true,
      clearOnComplete: true,
      autopadding: true,
    },
    Presets.shades_classic,
  );
  const active = new Map<string, SingleBar>();
  /** The line goes into the log buffer first: removing the bar redraws, which writes the buffer out. */
  const finish = (digest: string | undefined, line: string) => {
    bars.log(`${line}\n`);
    const bar = digest === undefined ? undefined : active.get(digest);
    if (digest !== undefined) active.delete(digest);
    if (bar) bars.remove(bar);
    else bars.update();
  };
  let stopped = false;
  const events: PrefetchEvents = {
    onBlobStart(blob) {
      active.set(
        blob.digest,
        bars.create(Math.max(blob.size, 1), 0, {
          label: `${shortDigest(blob.digest)} ${blob.image}`,
          done: formatBytes(0),
          total_text: blob.size >= 0 ? formatBytes(blob.size) : "?",
        }),
      );
    },
    onBlobProgress: (blob, bytes) => active.get(blob.digest)?.update(bytes, { done: formatBytes(bytes) }),
    onBlobDone: (blob, outcome, bytes) => finish(blob.digest, blobLine(blob, bytes, outcome)),
    onFailure: (image, digest, error) =>
      finish(digest, `failed: ${image}${digest ? ` ${digest}` : ""}: ${error.message}`),
  };
  return {
    events,
    stop: () => {
      if (!stopped) bars.stop();
      stopped = true;
    },
  };
}

/** Progress for logs and pipes: plain lines, failures on stderr. */
function plainEvents(): { events: PrefetchEvents; stop(): void } {
  return {
    events: {
      onBlobDone: (blob, outcome, bytes) => process.stdout.write(`${blobLine(blob, bytes, outcome)}\n`),
      onFailure: (image, digest, error) =>
        process.stderr.write(`wharf: ${image}${digest ? ` ${digest}` : ""}: ${error.message}\n`),
    },
    stop: () => {},
  };
}

export function registerPrefetch(program: Command): void {
  withConfigOptions(
    program
      .command("prefetch")
      .argument("[images...]", "alpine:3.19, docker.io/library/alpine:3.19, ghcr.io/org/app:1, REPO/name:tag")
      .description("fill the cache of a running wharf by pulling images through it")
      .option("-f, --file <file>", "images to pull, one a line (# starts a comment)")
      .option("--platform <os/arch[,…]>", "only these platforms of a multi-platform image (default: all)")
      .option("--url <url>", "the running wharf (default: the configuration's listen address)")
      .option("--user <name>", "pull as this user (password: --password-stdin or WHARF_PASSWORD)")
      .option("--password-stdin", "read the password from standard input"),
  ).action(async (names: string[], options: PrefetchCommandOptions) => {
    const texts = [...names, ...(options.file ? imagesInFile(await readFile(options.file, "utf8")) : [])];
    if (texts.length === 0) throw new Error("name the images to pull, or a file of them with -f");
    const images: ImageReference[] = texts.map(parseImageReference);
    const platforms = options.platform ? parsePlatforms(options.platform) : undefined;
    const dispatcher = new Agent({ connections: 8 }).compose(interceptors.redirect({ maxRedirections: 5 }));
    const creds = await credentials(options);
    const client = new PullClient({
      url: await instanceUrl(options),
      ...(creds ? { credentials: creds } : {}),
      dispatcher,
      userAgent: `wharf-prefetch/${VERSION}`,
    });
    const output = process.stdout.isTTY ? terminalEvents() : plainEvents();
    try {
      const summary = await prefetch(images, {
        client,
        events: output.events,
        ...(platforms ? { platforms } : {}),
      });
      output.stop();
      const failed =
        summary.failedImages > 0 || summary.failedBlobs > 0
          ? `; failed: ${summary.failedImages} of ${summary.images} images, ${summary.failedBlobs} blobs`
          : "";
      process.stdout.write(
        `${summary.images} image${summary.images === 1 ? "" : "s"}, ${summary.blobs} blobs, ${formatBytes(summary.bytes)} ` +
          `(${formatBytes(summary.fetchedBytes)} fetched from upstream) in ${(summary.ms / 1000).toFixed(1)} s${failed}\n`,
      );
      process.exitCode = failed ? 1 : 0;
    } finally {
      output.stop();
      await dispatcher.close();
    }
  });
}
