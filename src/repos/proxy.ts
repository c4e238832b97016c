import type { Logger } from "pino";
import type { IngestGuard } from "../coordination/ingest-guard.js";
import type { MetadataStore } from "../meta/metadata-store.js";
import { DOCKER_HUB_HOSTS } from "../oci/docker-hub.js";
import type { Descriptor } from "../oci/manifest.js";
import type { Reference } from "../oci/names.js";
import type { Page } from "../oci/pagination.js";
import type { RangeRequest } from "../oci/range.js";
import type { BlobBody } from "../store/blob-body.js";
import type { BlobStore } from "../store/blob-store.js";
import type { Coalescer } from "../store/coalescer.js";
import type { SmallContent } from "../store/small-content.js";
import type { UpstreamRegistry } from "../upstream/registry.js";
import { type Clock, systemClock } from "../util/clock.js";
import { Adoption } from "./adoption.js";
import { type AheadRoom, FetchAhead, type FetchAheadSettings } from "./fetch-ahead.js";
import { LocalContent } from "./local-content.js";
import { type ContentObserver, UNOBSERVED } from "./observer.js";
import { ProxyBlobs } from "./proxy-blobs.js";
import type { ProxyContext } from "./proxy-context.js";
import { ProxyListings } from "./proxy-listings.js";
import { ProxyManifests } from "./proxy-manifests.js";
import { ProxyTags } from "./proxy-tags.js";
import type {
  BlobContent,
  BlobStat,
  ManifestContent,
  ManifestRequest,
  Repository,
  RepositoryDescription,
} from "./repository.js";

export interface ProxyOptions {
  readonly name: string;
  readonly upstream: UpstreamRegistry;
  /** Prefix single-component names with `library/`, as Docker Hub stores official images. */
  readonly libraryPrefix: boolean;
  readonly tagTtlMs: number;
  readonly meta: MetadataStore;
  readonly blobs: BlobStore;
  readonly documents: SmallContent;
  readonly coalescer: Coalescer;
  readonly ingests: IngestGuard;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Told what is served (usage), fetched and not kept. */
  readonly observer?: ContentObserver;
  /** Layers fetched ahead of clients' requests; off when absent. */
  readonly fetchAhead?: FetchAheadSettings;
  /** Whether a blob fetched ahead fits without an eviction; everything fits when absent. */
  readonly aheadRoom?: AheadRoom;
}

/** The URL as an operator may see it: credentials in it, if any slipped in, are dropped. */
function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = "";
  parsed.password = "";
  return parsed.href.replace(/\/$/, "");
}

/**
 * A pull-through cache of one upstream registry, composed of one part per concern:
 *
 *   proxy-blobs.ts      blobs: from the store, else one verified download shared by every client
 *   proxy-manifests.ts  manifests by digest: from the store, else one counted GET, kept
 *   proxy-tags.ts       tags: the freshness rule of freshness.ts (TTL, HEAD revalidation, stale-if-error)
 *   adoption.ts         content stored for another repository or name, taken in once upstream
 *                       confirms this name has it (invariant 5)
 *   proxy-listings.ts   tags lists, referrers and names
 *
 * This class only canonicalizes the client's name (`busybox` → `library/busybox` for Docker Hub)
 * and hands each call to its part.
 */
export class ProxyRepository implements Repository {
  /** A cache of someone else's registry takes no pushes. */
  readonly writer = undefined;
  readonly members: readonly Repository[] = [];
  readonly name: string;
  readonly registryHosts: readonly string[];
  readonly #options: ProxyOptions;
  readonly #local: LocalContent;
  readonly #blobs: ProxyBlobs;
  readonly #manifests: ProxyManifests;
  readonly #tags: ProxyTags;
  readonly #listings: ProxyListings;
  readonly #observer: ContentObserver;
  readonly #ahead: FetchAhead | undefined;

  constructor(options: ProxyOptions) {
    this.name = options.name;
    this.#options = options;
    // A library-prefixed upstream stands for Docker Hub, which containerd names `ns=docker.io`.
    const host = options.upstream.host;
    this.registryHosts = options.libraryPrefix ? [host, ...DOCKER_HUB_HOSTS] : [host];
    this.#local = new LocalContent(options.name, options);
    this.#observer = options.observer ?? UNOBSERVED;
    const context: ProxyContext = {
      repo: options.name,
      upstream: options.upstream,
      stores: options,
      local: this.#local,
      clock: options.clock ?? systemClock,
      logger: options.logger,
      observer: this.#observer,
    };
    const adoption = new Adoption(context);
    const blobs = new ProxyBlobs(context, adoption, options.coalescer);
    this.#blobs = blobs;
    this.#ahead = options.fetchAhead
      ? new FetchAhead({
          repo: options.name,
          settings: options.fetchAhead,
          source: (name, digest) => blobs.ahead(name, digest),
          ...(options.aheadRoom ? { room: options.aheadRoom } : {}),
          clock: context.clock,
          logger: options.logger,
        })
      : undefined;
    this.#manifests = new ProxyManifests(context, adoption);
    this.#tags = new ProxyTags(context, this.#manifests, options.tagTtlMs);
    this.#listings = new ProxyListings(context);
  }

  /** The name this repository uses upstream and in its cache. */
  #canonical(name: string): string {
    return this.#options.libraryPrefix && !name.includes("/") ? `library/${name}` : name;
  }

  visibleTo(): Repository {
    return this;
  }

  async describe(): Promise<RepositoryDescription> {
    const { upstream, libraryPrefix, tagTtlMs } = this.#options;
    return {
      type: "proxy",
      name: this.name,
      upstream: {
        url: withoutCredentials(upstream.url),
        registryHosts: this.registryHosts,
        libraryPrefix,
        tagTtlMs,
        ...(await upstream.snapshot()),
      },
    };
  }

  hasLocalBlob(name: string, digest: string): Promise<boolean> {
    return this.#local.hasBlob(this.#canonical(name), digest);
  }

  /** Fetching ahead ends: nothing more is queued, and what runs for nobody is cancelled. */
  stopFetchingAhead(): void {
    this.#ahead?.stop();
  }

  /** What fetching ahead does now, for tests and status. */
  get fetchingAhead(): { running: number; queued: number } {
    return { running: this.#ahead?.running ?? 0, queued: this.#ahead?.queued ?? 0 };
  }

  async statBlob(name: string, digest: string): Promise<BlobStat> {
    const canonical = this.#canonical(name);
    this.#ahead?.touch(canonical);
    return { ...(await this.#blobs.stat(canonical, digest)), servedBy: this.name };
  }

  async openBlob(name: string, digest: string, range?: RangeRequest): Promise<BlobContent> {
    const canonical = this.#canonical(name);
    // The image stays "wanted" while its blobs are being sent, however long that takes.
    const ended = this.#ahead?.requestStarted(canonical);
    let content: BlobContent;
    try {
      content = await this.#blobs.open(canonical, digest, range);
    } catch (error) {
      ended?.();
      throw error;
    }
    this.#observer.blobServed(this.name, canonical, digest);
    return {
      ...content,
      body: ended ? whenReleased(content.body, ended) : content.body,
      servedBy: this.name,
    };
  }

  async getManifest(name: string, reference: Reference, request: ManifestRequest): Promise<ManifestContent> {
    const canonical = this.#canonical(name);
    this.#ahead?.touch(canonical);
    const content =
      reference.kind === "digest"
        ? await this.#manifests.byDigest(canonical, reference.digest, request)
        : await this.#tags.manifest(canonical, reference.tag, request);
    // What upstream just gave or confirmed is what clients are about to pull: its blobs go ahead.
    if (content.bytes && (content.cache === "miss" || content.cache === "revalidated"))
      this.#ahead?.manifestServed(canonical, content.bytes, content.mediaType);
    this.#observer.manifestServed(this.name, canonical, content.digest, {
      ...(reference.kind === "tag" ? { tag: reference.tag } : {}),
      counted: request.method === "GET" && request.background !== true,
      cache: content.cache,
    });
    return { ...content, servedBy: this.name };
  }

  listTags(name: string, page: Page): Promise<{ tags: string[]; more: boolean }> {
    return this.#listings.tags(this.#canonical(name), page);
  }

  listReferrers(name: string, digest: string): Promise<Descriptor[]> {
    return this.#listings.referrers(this.#canonical(name), digest);
  }

  listNames(page: Page): Promise<{ names: string[]; more: boolean }> {
    return this.#listings.names(page);
  }
}

/** `body`, telling `ended` once it is released (a redirect carries nothing to release: at once). */
function whenReleased(body: BlobBody, ended: () => void): BlobBody {
  if (body.kind === "redirect") {
    ended();
    return body;
  }
  return {
    ...body,
    release: () => {
      body.release();
      ended();
    },
  };
}
