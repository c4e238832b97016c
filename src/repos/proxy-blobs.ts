import { parseDigest } from "../oci/digest.js";
import type { ByteRange, RangeRequest } from "../oci/range.js";
import type { Coalescer, DownloadEvents, Joined } from "../store/coalescer.js";
import { type BlobFill, FillAbortedError } from "../store/fill.js";
import { UpstreamError } from "../upstream/errors.js";
import { DigestMismatchError, NotFoundError } from "../util/errors.js";
import type { Adoption } from "./adoption.js";
import { rangeResolver } from "./content.js";
import { blobDownloadKey } from "./flight-keys.js";
import { absentUpstream, type ProxyContext, remember } from "./proxy-context.js";
import type { BlobContent, BlobStat } from "./repository.js";

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
    const stored = await this.#stored(name, digest, range);
    if (stored) return stored;
    // A download that ended stored just before this joined is read from the store; if eviction
    // took the file in between, the blob is downloaded again rather than refused.
    for (let attempt = 0; ; attempt++) {
      let selected: ByteRange | undefined;
      let joined: Joined;
      try {
        joined = await this.#coalescer.join(
          blobDownloadKey(this.#context.repo, name, digest),
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
        return { size: fill.size, body, cache: "miss", kept, ...(selected ? { range: selected } : {}) };
      }
      const kept = await this.#stored(name, digest, range);
      if (kept) return kept;
      if (attempt > 0) throw new NotFoundError("blob", { digest });
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
  #events(name: string, digest: string): DownloadEvents {
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
          { repo, name, digest, bytes: fill.received, ms: clock.now() - started, stored },
          from === "upstream" ? "blob fetched from upstream" : "blob streamed from the node fetching it",
        );
      },
    };
  }

  #logFailure(error: unknown, fill: BlobFill, name: string, digest: string): void {
    const reason =
      error instanceof DigestMismatchError
        ? "upstream sent corrupt content"
        : error instanceof FillAbortedError || error instanceof UpstreamError
          ? "upstream failed mid-blob"
          : "blob download failed";
    const { logger, repo, upstream } = this.#context;
    logger.error(
      { err: error, repo, upstream: upstream.url, name, digest, receivedBytes: fill.received },
      `${reason}; nothing was cached`,
    );
  }
}
