import type { Readable } from "node:stream";
import { type IngestGuard, ingesting } from "../coordination/ingest-guard.js";
import type { MetadataStore } from "../meta/metadata-store.js";
import { digestOf, parseDigest } from "../oci/digest.js";
import { type Descriptor, type ManifestInfo, parseManifest } from "../oci/manifest.js";
import { isNonDistributable } from "../oci/media-types.js";
import { type Reference, referenceString } from "../oci/names.js";
import type { Page } from "../oci/pagination.js";
import type { RangeRequest } from "../oci/range.js";
import type { BlobStore } from "../store/blob-store.js";
import type { SmallContent } from "../store/small-content.js";
import type { ChunkClaim, UploadSessions } from "../store/upload-sessions.js";
import { type Clock, systemClock } from "../util/clock.js";
import {
  DigestMismatchError,
  InvalidContentError,
  MissingReferenceError,
  NotFoundError,
  UnsupportedError,
} from "../util/errors.js";
import { manifestRecordOf } from "./content.js";
import { LocalContent } from "./local-content.js";
import { type ContentObserver, UNOBSERVED } from "./observer.js";
import type {
  BlobContent,
  BlobStat,
  ManifestContent,
  ManifestRequest,
  Repository,
  RepositoryDescription,
  RepositoryReader,
  RepositoryWriter,
  UploadState,
} from "./repository.js";

export interface HostedOptions {
  readonly name: string;
  readonly allowDelete: boolean;
  readonly meta: MetadataStore;
  readonly blobs: BlobStore;
  readonly documents: SmallContent;
  readonly uploads: UploadSessions;
  readonly ingests: IngestGuard;
  /** When pushed tags are recorded as set. */
  readonly clock?: Clock;
  /** Told what is served (usage). */
  readonly observer?: ContentObserver;
}

/** A manifest may reference non-distributable layers without the blob: they are never pushed. */
function mustBePresent(descriptor: Descriptor): boolean {
  return !isNonDistributable(descriptor.mediaType);
}

/** A repository for a site's own images: the whole push and management side of the spec. */
export class HostedRepository implements Repository, RepositoryWriter {
  readonly name: string;
  readonly writer: RepositoryWriter = this;
  readonly members: readonly Repository[] = [];
  readonly registryHosts: readonly string[] = [];
  readonly #options: HostedOptions;
  readonly #local: LocalContent;
  readonly #clock: Clock;
  readonly #observer: ContentObserver;

  constructor(options: HostedOptions) {
    this.name = options.name;
    this.#options = options;
    this.#local = new LocalContent(options.name, options);
    this.#clock = options.clock ?? systemClock;
    this.#observer = options.observer ?? UNOBSERVED;
  }

  visibleTo(): Repository {
    return this;
  }

  async describe(): Promise<RepositoryDescription> {
    return { type: "hosted", name: this.name, allowDelete: this.#options.allowDelete };
  }

  // ---- reading ----

  async statBlob(name: string, digest: string): Promise<BlobStat> {
    if (!(await this.#local.hasBlob(name, digest))) throw new NotFoundError("blob", { digest });
    return { size: await this.#options.blobs.stat(digest), cache: "hit", servedBy: this.name };
  }

  async openBlob(name: string, digest: string, range?: RangeRequest): Promise<BlobContent> {
    const content = await this.#local.blob(name, digest, range);
    if (!content) throw new NotFoundError("blob", { digest });
    this.#observer.blobServed(this.name, name, digest);
    return { ...content, servedBy: this.name };
  }

  hasLocalBlob(name: string, digest: string): Promise<boolean> {
    return this.#local.hasBlob(name, digest);
  }

  async getManifest(name: string, reference: Reference, request: ManifestRequest): Promise<ManifestContent> {
    const digest =
      reference.kind === "digest"
        ? reference.digest
        : (await this.#options.meta.getTag(this.name, name, reference.tag))?.digest;
    const content =
      digest === undefined ? undefined : await this.#local.manifest(name, digest, request, "hit");
    if (!content) throw new NotFoundError("manifest", { name, reference: referenceString(reference) });
    this.#observer.manifestServed(this.name, name, content.digest, {
      ...(reference.kind === "tag" ? { tag: reference.tag } : {}),
      counted: request.method === "GET" && request.background !== true,
      cache: content.cache,
    });
    return { ...content, servedBy: this.name };
  }

  async listTags(name: string, page: Page): Promise<{ tags: string[]; more: boolean }> {
    const listed = await this.#options.meta.listTags(this.name, name, page);
    if (listed.tags.length === 0 && page.last === undefined && !(await this.#knows(name))) {
      throw new NotFoundError("name", { name });
    }
    return listed;
  }

  listReferrers(name: string, digest: string): Promise<Descriptor[]> {
    return this.#local.referrers(name, digest);
  }

  listNames(page: Page): Promise<{ names: string[]; more: boolean }> {
    return this.#options.meta.listNames(this.name, page);
  }

  /** A name is known while it holds anything: a manifest, a tag or a blob (as in distribution). */
  #knows(name: string): Promise<boolean> {
    return this.#options.meta.hasName(this.name, name);
  }

  // ---- uploads ----

  async startUpload(name: string): Promise<UploadState> {
    const upload = await this.#options.uploads.create(this.name, name);
    return { id: upload.id, offset: upload.offset };
  }

  async uploadState(name: string, id: string): Promise<UploadState> {
    const upload = await this.#options.uploads.get(this.name, name, id);
    return { id: upload.id, offset: upload.offset };
  }

  async appendUpload(name: string, id: string, body: Readable, claim: ChunkClaim): Promise<UploadState> {
    const upload = await this.#options.uploads.get(this.name, name, id);
    const written = await this.#options.uploads.append(upload, body, claim);
    return { id, offset: written.offset };
  }

  async finishUpload(
    name: string,
    id: string,
    digest: string,
    body: Readable | undefined,
    claim: ChunkClaim,
  ): Promise<{ digest: string; size: number }> {
    const parsed = parseDigest(digest);
    const upload = await this.#options.uploads.get(this.name, name, id);
    // Held from the commit (which keeps a file already stored, say a proxy's) to the link.
    return ingesting(this.#options.ingests, parsed.digest, async () => {
      const blob = await this.#options.uploads.finish(upload, parsed, body, claim);
      await this.#options.meta.linkBlob(this.name, name, blob.digest, blob.size);
      return blob;
    });
  }

  async cancelUpload(name: string, id: string): Promise<void> {
    await this.#options.uploads.cancel(await this.#options.uploads.get(this.name, name, id));
  }

  async mountBlob(
    name: string,
    digest: string,
    source: RepositoryReader,
    sourceName: string,
  ): Promise<boolean> {
    parseDigest(digest);
    if (!(await source.hasLocalBlob(sourceName, digest))) return false;
    // Held from the look at the file to the link: the source may be a proxy whose copy is evicted.
    return ingesting(this.#options.ingests, digest, async () => {
      const size = await this.#options.blobs.stat(digest);
      if (size === undefined) return false;
      await this.#options.meta.linkBlob(this.name, name, digest, size);
      return true;
    });
  }

  // ---- manifests ----

  async putManifest(
    name: string,
    reference: Reference,
    bytes: Buffer,
    contentType: string | undefined,
  ): Promise<{ digest: string; subject?: string }> {
    const info = parseManifest(bytes, contentType);
    if (info.kind === "schema1") {
      throw new InvalidContentError("manifest", "Docker schema 1 manifests are not accepted");
    }
    const digest =
      reference.kind === "digest"
        ? digestOf(bytes, parseDigest(reference.digest).algorithm)
        : digestOf(bytes);
    if (reference.kind === "digest" && digest !== reference.digest) {
      throw new DigestMismatchError(reference.digest, digest);
    }
    await this.#checkReferences(name, info);
    // Bytes first, then the rows that make them reachable, together: a tag never points at a
    // manifest whose record is missing, whatever fails in between. Held throughout, as the bytes
    // may be a proxy's copy that an eviction would otherwise delete before the rows exist.
    await ingesting(this.#options.ingests, digest, async () => {
      await this.#options.documents.write(digest, bytes);
      await this.#options.meta.transaction(async (tx) => {
        await tx.putManifest(this.name, name, manifestRecordOf(digest, bytes.byteLength, info));
        if (reference.kind === "tag")
          await tx.setTag(this.name, name, reference.tag, digest, this.#clock.now());
      });
    });
    return { digest, ...(info.subject ? { subject: info.subject.digest } : {}) };
  }

  /** Everything a manifest needs must already be here, under this name; only `subject` may be missing. */
  async #checkReferences(name: string, info: ManifestInfo): Promise<void> {
    const { meta } = this.#options;
    for (const blob of info.blobs.filter(mustBePresent)) {
      if (!(await this.#local.hasBlob(name, blob.digest))) {
        throw new MissingReferenceError("manifest references an unknown blob", {
          detail: { digest: blob.digest },
        });
      }
    }
    for (const child of info.manifests) {
      if (!(await meta.getManifest(this.name, name, child.digest))) {
        throw new MissingReferenceError("index references an unknown manifest", {
          detail: { digest: child.digest },
        });
      }
    }
  }

  async deleteManifest(name: string, reference: Reference): Promise<void> {
    this.#assertDeletable();
    const { meta } = this.#options;
    const removed =
      reference.kind === "tag"
        ? await meta.deleteTag(this.name, name, reference.tag)
        : await meta.deleteManifest(this.name, name, reference.digest);
    if (!removed) throw new NotFoundError("manifest", { name, reference: referenceString(reference) });
  }

  async deleteBlob(name: string, digest: string): Promise<void> {
    this.#assertDeletable();
    parseDigest(digest);
    if (!(await this.#options.meta.unlinkBlob(this.name, name, digest))) {
      throw new NotFoundError("blob", { digest });
    }
  }

  #assertDeletable(): void {
    if (!this.#options.allowDelete) {
      throw new UnsupportedError(`deletes are disabled in repository ${this.name}`);
    }
  }
}
