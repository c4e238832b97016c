import type { Logger } from "pino";
import type { MetadataStore, Page } from "../meta/metadata-store.js";
import { parseDigest } from "../oci/digest.js";
import { OciError } from "../oci/errors.js";
import { type Descriptor, parseManifest } from "../oci/manifest.js";
import { ALL_MANIFEST_TYPES } from "../oci/media-types.js";
import type { Reference } from "../oci/names.js";
import type { ByteRange, RangeRequest } from "../oci/range.js";
import type { BlobStore } from "../store/blob-store.js";
import type { Coalescer } from "../store/coalescer.js";
import { FillAbortedError } from "../store/fill.js";
import type { SmallContent } from "../store/small-content.js";
import type { UpstreamClient } from "../upstream/client.js";
import { UpstreamError } from "../upstream/errors.js";
import { DigestMismatchError } from "../util/errors.js";
import { SingleFlight } from "../util/single-flight.js";
import { manifestRecordOf, rangeResolver, referrersFromIndex } from "./content.js";
import { LocalContent } from "./local-content.js";
import type { BlobContent, CacheStatus, ManifestContent, ManifestRequest, Repository } from "./repository.js";
import { upstreamToOci } from "./upstream-failure.js";

export interface ProxyOptions {
  readonly name: string;
  readonly upstream: UpstreamClient;
  /** Prefix single-component names with `library/`, as Docker Hub stores official images. */
  readonly libraryPrefix: boolean;
  readonly tagTtlMs: number;
  readonly meta: MetadataStore;
  readonly blobs: BlobStore;
  readonly documents: SmallContent;
  readonly coalescer: Coalescer;
  readonly logger: Logger;
  readonly now?: () => number;
}

/**
 * A pull-through cache of one upstream registry.
 *
 * Freshness, per kind of content:
 * - by digest (manifests and blobs): immutable; served from the store without asking upstream,
 *   fetched once on a miss;
 * - tags: trusted for `tagTtlMs`, then revalidated with a HEAD (free on Docker Hub); a counted
 *   GET happens only when the digest changed; when upstream fails or rate-limits, the last known
 *   digest is served and marked stale.
 * Content in the store under another repository or name is served here only after the
 * upstream confirms, with a HEAD, that it holds it under this name (invariant 5).
 */
export class ProxyRepository implements Repository {
  readonly kind = "proxy";
  /** A cache of someone else's registry takes no pushes. */
  readonly writer = undefined;
  readonly name: string;
  readonly upstream: UpstreamClient;
  /** True when this upstream keeps official images under `library/`, as Docker Hub does. */
  readonly libraryPrefix: boolean;
  readonly #options: ProxyOptions;
  readonly #now: () => number;
  readonly #manifestFlights = new SingleFlight<ManifestContent>();
  readonly #local: LocalContent;

  constructor(options: ProxyOptions) {
    this.name = options.name;
    this.upstream = options.upstream;
    this.libraryPrefix = options.libraryPrefix;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#local = new LocalContent(options.name, options);
  }

  /** The name this repository uses upstream and in its cache. */
  canonical(name: string): string {
    return this.libraryPrefix && !name.includes("/") ? `library/${name}` : name;
  }

  // ---- blobs ----

  hasLocalBlob(clientName: string, digest: string): Promise<boolean> {
    return this.#local.hasBlob(this.canonical(clientName), digest);
  }

  async statBlob(
    clientName: string,
    digest: string,
  ): Promise<{ size: number | undefined; cache: CacheStatus }> {
    const name = this.canonical(clientName);
    const { meta, blobs } = this.#options;
    if (await meta.hasBlob(this.name, name, digest)) {
      const size = await blobs.stat(digest);
      if (size !== undefined) return { size, cache: "hit" };
    }
    // Not ours yet: ask upstream rather than answering 404, so wharf works inside a chain of caches.
    try {
      const { size } = await this.upstream.headBlob(name, digest);
      return { size, cache: "miss" };
    } catch (error) {
      throw upstreamToOci(error, "BLOB_UNKNOWN");
    }
  }

  async openBlob(clientName: string, digest: string, range?: RangeRequest): Promise<BlobContent> {
    const name = this.canonical(clientName);
    const parsed = parseDigest(digest);
    const { meta, coalescer, logger } = this.#options;
    const local = await this.#localBlob(name, digest, range);
    if (local) return local;
    const key = `${this.name}\n${name}\n${digest}`;
    let selected: ByteRange | undefined;
    let joined: Awaited<ReturnType<Coalescer["join"]>>;
    try {
      joined = await coalescer.join(
        key,
        parsed,
        () => this.upstream.getBlob(name, digest),
        (size) => {
          selected = range && size !== undefined ? rangeResolver(range)(size) : undefined;
          return selected;
        },
        {
          onSpoolFailure: (error) =>
            logger.error(
              { err: error, repo: this.name, name, digest },
              "cannot spool blob; serving it uncached",
            ),
          onStoreFailure: (error) =>
            logger.error(
              { err: error, repo: this.name, name, digest },
              "cannot store verified blob; it was served, not kept",
            ),
          onStart: (fill) => {
            const started = this.#now();
            fill.done.then(
              async ({ stored }) => {
                if (stored)
                  await this.#remember("blob link", { name, digest }, () =>
                    meta.linkBlob(this.name, name, digest, fill.received),
                  );
                logger.info(
                  { repo: this.name, name, digest, bytes: fill.received, ms: this.#now() - started, stored },
                  "blob fetched from upstream",
                );
              },
              (error: unknown) => this.#logFillFailure(error, name, digest, fill.received),
            );
          },
        },
      );
    } catch (error) {
      throw upstreamToOci(error, "BLOB_UNKNOWN");
    }
    if (joined.kind === "stored") {
      const stored = await this.#localBlob(name, digest, range);
      if (stored) return stored;
      throw new OciError("BLOB_UNKNOWN", { detail: { digest } });
    }
    const { fill, body } = joined;
    return { size: fill.size, body, cache: "miss", ...(selected ? { range: selected } : {}) };
  }

  #logFillFailure(error: unknown, name: string, digest: string, received: number): void {
    const reason =
      error instanceof DigestMismatchError
        ? "upstream sent corrupt content"
        : error instanceof FillAbortedError || error instanceof UpstreamError
          ? "upstream failed mid-blob"
          : "blob download failed";
    this.#options.logger.error(
      { err: error, repo: this.name, upstream: this.upstream.url, name, digest, receivedBytes: received },
      `${reason}; nothing was cached`,
    );
  }

  /**
   * The blob from the store, when this repository may serve it: linked to this name already, or
   * present for someone else and confirmed upstream by a HEAD (then linked, no download).
   */
  async #localBlob(
    name: string,
    digest: string,
    range: RangeRequest | undefined,
  ): Promise<BlobContent | undefined> {
    const linked = await this.#local.blob(name, digest, range);
    if (linked) return linked;
    const size = await this.#options.blobs.stat(digest);
    if (size === undefined) return undefined;
    try {
      await this.upstream.headBlob(name, digest);
    } catch (error) {
      if (error instanceof UpstreamError && error.kind === "not-found")
        throw upstreamToOci(error, "BLOB_UNKNOWN");
      return undefined;
    }
    await this.#remember("blob link", { name, digest }, () =>
      this.#options.meta.linkBlob(this.name, name, digest, size),
    );
    return this.#local.storedBlob(digest, range);
  }

  // ---- manifests ----

  async getManifest(
    clientName: string,
    reference: Reference,
    request: ManifestRequest,
  ): Promise<ManifestContent> {
    const name = this.canonical(clientName);
    return reference.kind === "digest"
      ? this.#manifestByDigest(name, reference.digest, request)
      : this.#manifestByTag(name, reference.tag, request);
  }

  async #manifestByDigest(name: string, digest: string, request: ManifestRequest): Promise<ManifestContent> {
    const local = await this.#local.manifest(name, digest, request, "hit");
    if (local) return local;
    if ((await this.#options.blobs.stat(digest)) !== undefined) {
      const adopted = await this.#adoptManifest(name, digest, request);
      if (adopted) return adopted;
    }
    if (request.method === "HEAD") {
      // A HEAD is free upstream; a GET would count as a pull for a client that only asked.
      try {
        return { ...(await this.upstream.headManifest(name, digest, ALL_MANIFEST_TYPES)), cache: "miss" };
      } catch (error) {
        throw upstreamToOci(error, "MANIFEST_UNKNOWN");
      }
    }
    return this.#manifestFlights.run(`${name}@${digest}`, () =>
      this.#fetchManifest(name, digest, request.accept),
    );
  }

  /** The manifest is in the store for another repository or name: a free HEAD proves upstream has it here. */
  async #adoptManifest(
    name: string,
    digest: string,
    request: ManifestRequest,
  ): Promise<ManifestContent | undefined> {
    try {
      await this.upstream.headManifest(name, digest, ALL_MANIFEST_TYPES);
    } catch (error) {
      if (error instanceof UpstreamError && error.kind === "not-found")
        throw upstreamToOci(error, "MANIFEST_UNKNOWN");
      return undefined;
    }
    const bytes = await this.#options.documents.read(digest);
    const info = parseManifest(bytes);
    await this.#options.meta.putManifest(this.name, name, manifestRecordOf(digest, bytes.byteLength, info));
    return {
      digest,
      mediaType: info.mediaType,
      size: bytes.byteLength,
      cache: "hit",
      ...bodyFor(request, bytes),
    };
  }

  async #manifestByTag(name: string, tag: string, request: ManifestRequest): Promise<ManifestContent> {
    const known = await this.#options.meta.getTag(this.name, name, tag);
    if (!known) {
      const accept = [...request.accept].sort().join(",");
      return this.#manifestFlights.run(`${name}:${tag}\n${request.method}\n${accept}`, () =>
        this.#firstTagFetch(name, tag, request),
      );
    }
    if (this.#now() - known.validatedAt < this.#options.tagTtlMs) {
      const local = await this.#local.manifest(name, known.digest, request, "hit");
      if (local) return local;
      // The tag was learnt from a HEAD and its manifest never fetched: get it by digest.
      if (request.method === "GET") return this.#manifestByDigest(name, known.digest, request);
    }
    return this.#manifestFlights.run(`${name}:${tag}\nrevalidate\n${request.method}`, () =>
      this.#revalidateTag(name, tag, known.digest, request),
    );
  }

  /**
   * A tag never seen before. A HEAD is answered by a HEAD upstream (free, and the client may
   * only be checking for updates); the tag is remembered either way, so it later resolves offline.
   */
  async #firstTagFetch(name: string, tag: string, request: ManifestRequest): Promise<ManifestContent> {
    const accept = request.accept.length > 0 ? request.accept : ALL_MANIFEST_TYPES;
    try {
      if (request.method === "HEAD") {
        const head = await this.upstream.headManifest(name, tag, accept);
        await this.#rememberTag(name, tag, head.digest);
        return { ...head, cache: "miss" };
      }
      const fetched = await this.#fetchManifest(name, tag, request.accept);
      await this.#rememberTag(name, tag, fetched.digest);
      return fetched;
    } catch (error) {
      throw upstreamToOci(error, "MANIFEST_UNKNOWN");
    }
  }

  async #revalidateTag(
    name: string,
    tag: string,
    digest: string,
    request: ManifestRequest,
  ): Promise<ManifestContent> {
    const { meta } = this.#options;
    let current: string;
    try {
      current = (await this.upstream.headManifest(name, tag, ALL_MANIFEST_TYPES)).digest;
    } catch (error) {
      if (error instanceof UpstreamError && error.kind === "not-found") {
        await meta.deleteTag(this.name, name, tag);
        throw upstreamToOci(error, "MANIFEST_UNKNOWN");
      }
      const stale = await this.#local.manifest(name, digest, request, "stale");
      // The upstream's failure itself is logged once by its client; each stale answer shows in the request log.
      if (stale && error instanceof UpstreamError && error.allowsStale)
        return { ...stale, staleReason: error.message };
      throw upstreamToOci(error, "MANIFEST_UNKNOWN");
    }
    if (current === digest) {
      await this.#remember("tag", { name, tag }, () =>
        meta.markTagValidated(this.name, name, tag, this.#now()),
      );
    } else {
      await this.#rememberTag(name, tag, current);
    }
    const local = await this.#local.manifest(
      name,
      current,
      request,
      current === digest ? "revalidated" : "hit",
    );
    if (local) return local;
    // The tag moved to content we do not have: this is the one case that costs a counted GET.
    return this.#manifestByDigest(name, current, request);
  }

  /** A counted GET upstream; the verified manifest is stored and recorded before it is returned. */
  async #fetchManifest(
    name: string,
    reference: string,
    clientAccept: readonly string[],
  ): Promise<ManifestContent> {
    const accept = clientAccept.length > 0 ? clientAccept : ALL_MANIFEST_TYPES;
    let fetched: Awaited<ReturnType<UpstreamClient["getManifest"]>>;
    try {
      fetched = await this.upstream.getManifest(name, reference, accept);
    } catch (error) {
      throw upstreamToOci(error, "MANIFEST_UNKNOWN");
    }
    let info: ReturnType<typeof parseManifest>;
    try {
      info = parseManifest(fetched.bytes, fetched.mediaType);
    } catch (error) {
      this.#options.logger.error(
        { err: error, repo: this.name, upstream: this.upstream.url, name, reference },
        "upstream sent an invalid manifest; not cached",
      );
      throw new OciError("UNKNOWN", {
        status: 502,
        message: "upstream sent an invalid manifest",
        cause: error,
      });
    }
    await this.#remember("manifest", { name, digest: fetched.digest }, async () => {
      await this.#options.documents.write(fetched.digest, fetched.bytes);
      await this.#options.meta.putManifest(
        this.name,
        name,
        manifestRecordOf(fetched.digest, fetched.size, info),
      );
    });
    return {
      digest: fetched.digest,
      mediaType: info.mediaType,
      size: fetched.size,
      bytes: fetched.bytes,
      cache: "miss",
    };
  }

  #rememberTag(name: string, tag: string, digest: string): Promise<void> {
    return this.#remember("tag", { name, tag, digest }, () =>
      this.#options.meta.setTag(this.name, name, tag, digest, this.#now()),
    );
  }

  /**
   * Records fetched content in the cache. A failure here (full disk, read-only database) must
   * not fail the client's request: the content was fetched and verified, it is just not kept.
   */
  async #remember(what: string, context: Record<string, string>, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.#options.logger.error(
        { err: error, repo: this.name, ...context },
        `cannot cache ${what}; serving it uncached`,
      );
    }
  }

  // ---- listings ----

  async listTags(clientName: string, page: Page): Promise<{ tags: string[]; more: boolean }> {
    const name = this.canonical(clientName);
    try {
      const remote = await this.upstream.listTags(name, page.limit, page.last);
      // Apply `n` and `last` here too: registry:v2 and others ignore them.
      const after = page.last;
      const tags = remote.tags.filter((tag) => after === undefined || tag > after).sort();
      const limit = page.limit ?? tags.length;
      return { tags: tags.slice(0, limit), more: remote.hasMore || tags.length > limit };
    } catch (error) {
      if (!(error instanceof UpstreamError) || !error.allowsStale) throw upstreamToOci(error, "NAME_UNKNOWN");
      const local = await this.#options.meta.listTags(this.name, name, page);
      if (local.tags.length === 0 && page.last === undefined) throw upstreamToOci(error, "NAME_UNKNOWN");
      return local;
    }
  }

  async listReferrers(clientName: string, digest: string): Promise<Descriptor[]> {
    const name = this.canonical(clientName);
    const local = await this.#local.referrers(name, digest);
    let remote: Descriptor[] = [];
    try {
      const index = await this.upstream.referrers(name, digest);
      if (index) remote = referrersFromIndex(index);
    } catch {
      // Referrers are advisory: what is cached still answers when upstream cannot.
    }
    const seen = new Set(remote.map((d) => d.digest));
    return [...remote, ...local.filter((d) => !seen.has(d.digest))];
  }

  listNames(page: Page): Promise<{ names: string[]; more: boolean }> {
    return this.#options.meta.listNames(this.name, page);
  }
}

function bodyFor(request: ManifestRequest, bytes: Buffer): { bytes?: Buffer } {
  return request.method === "HEAD" ? {} : { bytes };
}
