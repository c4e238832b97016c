import { createHash } from "node:crypto";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseDigest } from "../oci/digest.js";
import { type ByteRange, type RangeRequest, resolveRange } from "../oci/range.js";
import { type StreamBody, streamBody } from "../store/blob-body.js";
import type { Coalescer, DownloadEvents, Joined } from "../store/coalescer.js";
import { type BlobFill, FillAbortedError, FillCancelledError } from "../store/fill.js";
import { UpstreamError } from "../upstream/errors.js";
import type { FetchedRange } from "../upstream/registry.js";
import { DigestMismatchError, NotFoundError } from "../util/errors.js";
import type { Adoption } from "./adoption.js";
import { rangeResolver } from "./content.js";
import { blobDownloadKey } from "./flight-keys.js";
import { absentUpstream, type ProxyContext, remember } from "./proxy-context.js";
import type { BlobContent, BlobStat } from "./repository.js";

/**
 * A Range that starts less than this past where the blob's download is (or, with none running,
 * near the blob's start) is served from that download: at 100 MB/s it gets there within 10 ms,
 * about what a second request upstream would take. One further on is asked of the upstream.
 */
const NEAR_BYTES = 1024 * 1024;

/** A download of a whole blob that no client reads (fetched ahead, or behind a ranged answer). */
export interface BackgroundDownload {
  readonly fill: BlobFill;
  /** Whether this call started it; otherwise it joined one a client's request had started. */
  readonly started: boolean;
  /** Settles once it ended: true when the blob was kept. Never rejects. */
  readonly kept: Promise<boolean>;
}

/**
 * A proxy's blobs: immutable by digest, so what the store holds for this name is served without
 * asking upstream; a miss is one download however many clients ask (the Coalescer), verified
 * before it is kept and linked to this repository and name.
 */
export class ProxyBlobs {
  readonly #context: ProxyContext;
  readonly #adoption: Adoption;
  readonly #coalescer: Coalescer;

  constructor(context: ProxyContext, adoption: Adoption, coalescer: Coalescer) {
    this.#context = context;
    this.#adoption = adoption;
    this.#coalescer = coalescer;
  }

  async stat(name: string, digest: string): Promise<BlobStat> {
    const { stores, repo, upstream } = this.#context;
    if (await stores.meta.hasBlob(repo, name, digest)) {
      const size = await stores.blobs.stat(digest);
      if (size !== undefined) return { size, cache: "hit" };
    }
    // Being downloaded for this name: its size is the upstream's answer already.
    const running = this.#coalescer.current(blobDownloadKey(repo, name, digest));
    if (running?.size !== undefined) return { size: running.size, cache: cacheOf(running) };
    // Not ours yet: ask upstream rather than answering 404, so wharf works inside a chain of caches.
    try {
      const { size } = await upstream.headBlob(name, digest);
      return { size, cache: "miss" };
    } catch (error) {
      throw absentUpstream(error, "blob");
    }
  }

  async open(name: string, digest: string, range?: RangeRequest): Promise<BlobContent> {
    const parsed = parseDigest(digest);
    const key = blobDownloadKey(this.#context.repo, name, digest);
    // A download of it for this name running (or committed, not linked yet) is joined, not adopted:
    // adopting would ask upstream about a blob that is being fetched from there right now.
    const stored = this.#coalescer.current(key)
      ? await this.#context.local.blob(name, digest, range)
      : await this.#stored(name, digest, range);
    if (stored) return stored;
    const ranged = range ? await this.#upstreamRange(name, digest, range) : undefined;
    if (ranged) return ranged;
    // A download that ended stored just before this joined is read from the store; if eviction
    // took the file in between, the blob is downloaded again rather than refused.
    for (let attempt = 0; ; attempt++) {
      let selected: ByteRange | undefined;
      let joined: Joined;
      try {
        joined = await this.#coalescer.join(
          key,
          parsed,
          () => this.#context.upstream.getBlob(name, digest),
          (size) => {
            selected = range && size !== undefined ? rangeResolver(range)(size) : undefined;
            return selected;
          },
          this.#events(name, digest),
        );
      } catch (error) {
        throw absentUpstream(error, "blob");
      }
      if (joined.kind === "fill") {
        const { fill, body, kept } = joined;
        return {
          size: fill.size,
          body,
          cache: cacheOf(fill),
          kept,
          ...(selected ? { range: selected } : {}),
        };
      }
      const kept = await this.#stored(name, digest, range);
      if (kept) return kept;
      if (attempt > 0) throw new NotFoundError("blob", { digest });
    }
  }

  /**
   * Starts (or finds) the download of a blob no client asked for yet, for fetching ahead.
   * Undefined when the store holds the blob already, for this name or another: a client's request
   * then costs no download (at most an upstream HEAD to adopt it).
   */
  async ahead(name: string, digest: string): Promise<BackgroundDownload | undefined> {
    if ((await this.#context.stores.blobs.stat(digest)) !== undefined) return undefined;
    return this.#background(name, digest, { ahead: true });
  }

  /**
   * The whole blob's download, with no reader: started if none runs, through the coalescer like a
   * client's (one download per blob, verified, linked once stored). Undefined when it ended
   * stored just now. Rejects as the upstream refused it.
   */
  async #background(
    name: string,
    digest: string,
    how: { ahead: boolean },
  ): Promise<BackgroundDownload | undefined> {
    let started = false;
    const events = this.#events(name, digest, how);
    const joined = await this.#coalescer.join(
      blobDownloadKey(this.#context.repo, name, digest),
      parseDigest(digest),
      () => this.#context.upstream.getBlob(name, digest),
      () => undefined,
      {
        ...events,
        onStart: (fill, from) => {
          started = true;
          events.onStart?.(fill, from);
        },
      },
    );
    if (joined.kind === "stored") return undefined;
    joined.body.release();
    return { fill: joined.fill, started, kept: joined.kept };
  }

  /**
   * A Range far past where the blob's download is (or will start): a ranged GET upstream answers
   * it at once while the whole blob downloads in the background, so a lazy-pulling client never
   * waits for the download to reach its offset. Undefined when the download will get there soon,
   * or the upstream does not answer with that range: the caller then reads the download.
   *
   * These bytes cannot be verified before they are sent (a range has no digest). What is
   * guaranteed: they are the upstream's answer for exactly the range asked, a 206 never passes for
   * the whole blob, the blob enters the store only verified, and once it did, the bytes sent are
   * compared with the same span of it; a difference is logged as an error.
   */
  async #upstreamRange(name: string, digest: string, range: RangeRequest): Promise<BlobContent | undefined> {
    const running = this.#coalescer.current(blobDownloadKey(this.#context.repo, name, digest));
    if (!farAhead(running, range)) return undefined;
    const part = this.#context.upstream.getBlobRange(name, digest, range).catch(() => undefined);
    // The download's own failure is logged by it; the range may still be answered.
    const whole = this.#background(name, digest, { ahead: false }).catch(() => undefined);
    const answered = await part;
    if (!answered) return undefined;
    const expected = resolveRange(range, answered.size);
    if (
      expected === "unsatisfiable" ||
      expected.start !== answered.range.start ||
      expected.end !== answered.range.end
    ) {
      answered.body.destroy();
      return undefined;
    }
    const kept = whole.then((download) => download?.kept ?? true);
    return {
      size: answered.size,
      range: answered.range,
      body: this.#checkedAfterwards(name, digest, answered, kept),
      cache: "miss",
      kept,
    };
  }

  /**
   * The ranged answer's bytes as they arrive, hashed on the way; once the whole blob was verified
   * and kept, the same span of it is hashed too, and a difference logged.
   */
  #checkedAfterwards(name: string, digest: string, part: FetchedRange, kept: Promise<boolean>): StreamBody {
    const length = part.range.end - part.range.start + 1;
    const hash = createHash("sha256");
    let sent = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        sent += chunk.byteLength;
        if (sent > length)
          return callback(new Error(`upstream sent more than the ${length} bytes of its range`));
        hash.update(chunk);
        callback(null, chunk);
      },
      flush(callback) {
        callback(
          sent === length ? null : new Error(`upstream ended its range after ${sent} of ${length} bytes`),
        );
      },
    });
    pipeline(part.body, counted).then(
      () => void this.#compareRange(name, digest, part.range, hash.digest("hex"), kept),
      // A client that left, or an upstream that cut the range: the client saw a short body.
      () => {},
    );
    return streamBody(counted);
  }

  async #compareRange(
    name: string,
    digest: string,
    range: ByteRange,
    sent: string,
    kept: Promise<boolean>,
  ): Promise<void> {
    if (!(await kept)) return;
    const { stores, logger, repo } = this.#context;
    try {
      const body = await stores.blobs.read(digest, range);
      const hash = createHash("sha256");
      try {
        for await (const chunk of body.stream()) hash.update(chunk as Buffer);
      } finally {
        body.release();
      }
      if (hash.digest("hex") === sent) return;
      logger.error(
        { repo, name, digest, range: `${range.start}-${range.end}` },
        "upstream answered a Range with bytes that differ from the verified blob",
      );
    } catch {
      // Evicted or gone meanwhile: nothing left to compare with.
    }
  }

  /** The blob from the store when this repository may serve it: linked here already, or adopted. */
  async #stored(
    name: string,
    digest: string,
    range: RangeRequest | undefined,
  ): Promise<BlobContent | undefined> {
    return (await this.#context.local.blob(name, digest, range)) ?? this.#adoption.blob(name, digest, range);
  }

  /**
   * What the download this request started reports: the link once stored (while the digest is
   * still held, so no eviction deletes the file before it), the bytes it fetched, one log line.
   */
  #events(name: string, digest: string, how: { ahead: boolean } = { ahead: false }): DownloadEvents {
    const { logger, repo, clock, stores, observer } = this.#context;
    let started = clock.now();
    return {
      onSpoolFailure: (error) =>
        logger.error({ err: error, repo, name, digest }, "cannot spool blob; serving it uncached"),
      onStoreFailure: (error) => {
        logger.error(
          { err: error, repo, name, digest },
          "cannot store verified blob; it was served, not kept",
        );
        observer.cacheFailed(repo, error);
      },
      onStart: (fill, from) => {
        started = clock.now();
        fill.done.catch((error: unknown) => {
          // Bytes another node fetched are that node's to count.
          if (from === "upstream") observer.fetched(repo, "blob", fill.received);
          this.#logFailure(error, fill, name, digest);
        });
      },
      onDone: async (fill, stored, from) => {
        if (from === "upstream") observer.fetched(repo, "blob", fill.received);
        if (stored)
          await remember(this.#context, "blob link", { name, digest }, () =>
            stores.meta.linkBlob(repo, name, digest, fill.received),
          );
        logger.info(
          {
            repo,
            name,
            digest,
            bytes: fill.received,
            ms: clock.now() - started,
            stored,
            ...(how.ahead ? { ahead: true } : {}),
          },
          from === "upstream" ? "blob fetched from upstream" : "blob streamed from the node fetching it",
        );
      },
    };
  }

  #logFailure(error: unknown, fill: BlobFill, name: string, digest: string): void {
    const { logger, repo, upstream } = this.#context;
    if (error instanceof FillCancelledError) {
      logger.info(
        { repo, name, digest, receivedBytes: fill.received, reason: error.message },
        "download cancelled; nothing was cached",
      );
      return;
    }
    const reason =
      error instanceof DigestMismatchError
        ? "upstream sent corrupt content"
        : error instanceof FillAbortedError || error instanceof UpstreamError
          ? "upstream failed mid-blob"
          : "blob download failed";
    logger.error(
      { err: error, repo, upstream: upstream.url, name, digest, receivedBytes: fill.received },
      `${reason}; nothing was cached`,
    );
  }
}

/** A download found verified (while it is committed) is a hit: every byte is here, nothing waits upstream. */
function cacheOf(download: BlobFill): "hit" | "miss" {
  return download.state === "verified" ? "hit" : "miss";
}

/** Whether a Range starts too far past the blob's download (or its start, with none) to wait for it. */
function farAhead(running: BlobFill | undefined, range: RangeRequest): boolean {
  if (range.kind === "backwards") return false;
  const position = running?.received ?? 0;
  if (range.kind === "from") return range.start >= position + NEAR_BYTES;
  if (running?.size === undefined) return true;
  return running.size - range.length >= position + NEAR_BYTES;
}
