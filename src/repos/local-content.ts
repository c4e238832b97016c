import type { IngestGuard } from "../coordination/ingest-guard.js";
import type { MetadataStore } from "../meta/metadata-store.js";
import type { Descriptor } from "../oci/manifest.js";
import { accepts } from "../oci/media-types.js";
import type { RangeRequest } from "../oci/range.js";
import type { StoredBody } from "../store/blob-body.js";
import type { BlobStore } from "../store/blob-store.js";
import type { SmallContent } from "../store/small-content.js";
import { NotFoundError } from "../util/errors.js";
import { descriptorOf, rangeResolver } from "./content.js";
import type { BlobContent, CacheStatus, ManifestContent, ManifestRequest } from "./repository.js";

export interface ContentStores {
  readonly meta: MetadataStore;
  readonly blobs: BlobStore;
  readonly documents: SmallContent;
  /** Held while content is made reachable here, so eviction and gc delete no file it relies on. */
  readonly ingests: IngestGuard;
}

/**
 * What one repository holds itself, read through its own metadata so that content stored for
 * another repository is never reachable here (invariant 5). Proxy and hosted repositories both
 * read their stored content through this.
 */
export class LocalContent {
  readonly #repo: string;
  readonly #stores: ContentStores;

  constructor(repo: string, stores: ContentStores) {
    this.#repo = repo;
    this.#stores = stores;
  }

  async hasBlob(name: string, digest: string): Promise<boolean> {
    return (
      (await this.#stores.meta.hasBlob(this.#repo, name, digest)) &&
      (await this.#stores.blobs.stat(digest)) !== undefined
    );
  }

  /** The blob (or the requested range of it) when it is linked to this repository and name. */
  async blob(
    name: string,
    digest: string,
    range: RangeRequest | undefined,
  ): Promise<BlobContent | undefined> {
    if (!(await this.#stores.meta.hasBlob(this.#repo, name, digest))) return undefined;
    return this.storedBlob(digest, range);
  }

  /**
   * Streams a stored blob without checking links: for callers that just established the right to
   * it. A file gone (evicted since the link was read) counts as absent, so a proxy fetches it again.
   */
  async storedBlob(digest: string, range: RangeRequest | undefined): Promise<BlobContent | undefined> {
    // A redirect carries no range: the client sends its own Range header there.
    const url = await this.#stores.blobs.directUrl(digest);
    if (range === undefined && url === undefined) return this.#wholeBlob(digest);
    const size = await this.#stores.blobs.stat(digest);
    if (size === undefined) return undefined;
    const selected = range ? rangeResolver(range)(size) : undefined;
    let body: BlobContent["body"];
    try {
      body = url ? { kind: "redirect", url } : await this.#stores.blobs.read(digest, selected);
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
    return { size, body, cache: "hit", ...(selected ? { range: selected } : {}) };
  }

  /** A whole stored blob: a file body knows its length, so a warm GET opens the file and asks nothing more. */
  async #wholeBlob(digest: string): Promise<BlobContent | undefined> {
    let body: StoredBody;
    try {
      body = await this.#stores.blobs.read(digest);
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
    const size = body.kind === "file" ? body.length : await this.#stores.blobs.stat(digest);
    if (size === undefined) {
      body.release();
      return undefined;
    }
    return { size, body, cache: "hit" };
  }

  /**
   * The manifest when this repository holds it for `name`. HEAD requests get no bytes; metadata
   * whose bytes are gone counts as absent. Held in a media type the client does not accept, it
   * is not found, as registry:v2 answers: a digest names one document, so neither the upstream
   * nor another name has a version of it the client would take, and none is asked.
   */
  async manifest(
    name: string,
    digest: string,
    request: ManifestRequest,
    cache: CacheStatus,
  ): Promise<ManifestContent | undefined> {
    const record = await this.#stores.meta.getManifest(this.#repo, name, digest);
    if (!record) return undefined;
    if (!accepts(request.accept, record.mediaType)) throw notAccepted(name, digest, record.mediaType);
    const base = { digest, mediaType: record.mediaType, size: record.size, cache };
    if (request.method === "HEAD") return base;
    try {
      return { ...base, bytes: await this.#stores.documents.read(digest) };
    } catch {
      return undefined;
    }
  }

  async referrers(name: string, digest: string): Promise<Descriptor[]> {
    return (await this.#stores.meta.listReferrers(this.#repo, name, digest)).map(descriptorOf);
  }
}

/** A manifest held in a media type the request's Accept header does not list. */
function notAccepted(name: string, digest: string, mediaType: string): NotFoundError {
  return new NotFoundError(
    "manifest",
    { name, digest, mediaType },
    { message: `the manifest is a ${mediaType}, which the request's Accept header does not list` },
  );
}
