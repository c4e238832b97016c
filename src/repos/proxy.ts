import type { Logger } from "pino";
import type { IngestGuard } from "../coordination/ingest-guard.js";
import type { MetadataStore } from "../meta/metadata-store.js";
import { DOCKER_HUB_HOSTS } from "../oci/docker-hub.js";
import type { Descriptor } from "../oci/manifest.js";
import type { Reference } from "../oci/names.js";
import type { Page } from "../oci/pagination.js";
import type { RangeRequest } from "../oci/range.js";
import type { BlobStore } from "../store/blob-store.js";
import type { Coalescer } from "../store/coalescer.js";
import type { SmallContent } from "../store/small-content.js";
import type { UpstreamRegistry } from "../upstream/registry.js";
import { type Clock, systemClock } from "../util/clock.js";
import { Adoption } from "./adoption.js";
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
    this.#blobs = new ProxyBlobs(context, adoption, options.coalescer);
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

  async statBlob(name: string, digest: string): Promise<BlobStat> {
    return { ...(await this.#blobs.stat(this.#canonical(name), digest)), servedBy: this.name };
  }

  async openBlob(name: string, digest: string, range?: RangeRequest): Promise<BlobContent> {
    const canonical = this.#canonical(name);
    const content = await this.#blobs.open(canonical, digest, range);
    this.#observer.blobServed(this.name, canonical, digest);
    return { ...content, servedBy: this.name };
  }

  async getManifest(name: string, reference: Reference, request: ManifestRequest): Promise<ManifestContent> {
    const canonical = this.#canonical(name);
    const content =
      reference.kind === "digest"
        ? await this.#manifests.byDigest(canonical, reference.digest, request)
        : await this.#tags.manifest(canonical, reference.tag, request);
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
