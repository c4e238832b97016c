import { ingesting } from "../coordination/ingest-guard.js";
import { parseManifest } from "../oci/manifest.js";
import { ALL_MANIFEST_TYPES, accepts } from "../oci/media-types.js";
import type { RangeRequest } from "../oci/range.js";
import type { Missing } from "../util/errors.js";
import { manifestRecordOf } from "./content.js";
import { absentUpstream, isUpstreamNotFound, type ProxyContext, remember } from "./proxy-context.js";
import type { BlobContent, ManifestContent, ManifestRequest } from "./repository.js";

/**
 * Content the store holds for another repository or name, taken into this proxy's name without
 * a download once the upstream confirms, with a free HEAD, that it has the content under this
 * name (invariant 5: deduplication on disk never leaks content). Each method answers undefined
 * when the store does not hold the content or the upstream cannot confirm now (the caller then
 * downloads, and hears the upstream's failure itself), and throws NotFoundError when the upstream
 * says this name has no such content. Both hold the digest from the look at the store to the new
 * record, so no eviction deletes the file in between.
 */
export class Adoption {
  readonly #context: ProxyContext;

  constructor(context: ProxyContext) {
    this.#context = context;
  }

  async blob(
    name: string,
    digest: string,
    range: RangeRequest | undefined,
  ): Promise<BlobContent | undefined> {
    const { stores, upstream, local, repo } = this.#context;
    // Cheap first: most misses are not in the store at all, and need no hold.
    if ((await stores.blobs.stat(digest)) === undefined) return undefined;
    return ingesting(stores.ingests, digest, async () => {
      const size = await stores.blobs.stat(digest);
      if (size === undefined) return undefined;
      if (!(await this.#confirmed(() => upstream.headBlob(name, digest), "blob"))) return undefined;
      await remember(this.#context, "blob link", { name, digest }, () =>
        stores.meta.linkBlob(repo, name, digest, size),
      );
      return local.storedBlob(digest, range);
    });
  }

  async manifest(
    name: string,
    digest: string,
    request: ManifestRequest,
  ): Promise<ManifestContent | undefined> {
    const { stores } = this.#context;
    if ((await stores.blobs.stat(digest)) === undefined) return undefined;
    return ingesting(stores.ingests, digest, () => this.#adoptManifest(name, digest, request));
  }

  async #adoptManifest(
    name: string,
    digest: string,
    request: ManifestRequest,
  ): Promise<ManifestContent | undefined> {
    const { stores, upstream, repo } = this.#context;
    if ((await stores.blobs.stat(digest)) === undefined) return undefined;
    const bytes = await stores.documents.read(digest);
    const info = parseManifest(bytes);
    // Not adopted for a client that cannot take it: the upstream, asked with its Accept, answers.
    if (!accepts(request.accept, info.mediaType)) return undefined;
    if (!(await this.#confirmed(() => upstream.headManifest(name, digest, ALL_MANIFEST_TYPES), "manifest")))
      return undefined;
    await stores.meta.putManifest(repo, name, manifestRecordOf(digest, bytes.byteLength, info));
    return {
      digest,
      mediaType: info.mediaType,
      size: bytes.byteLength,
      cache: "hit",
      ...(request.method === "HEAD" ? {} : { bytes }),
    };
  }

  /** Whether the upstream's HEAD confirmed; its "not found" is the answer for the client. */
  async #confirmed(head: () => Promise<unknown>, what: Missing): Promise<boolean> {
    try {
      await head();
      return true;
    } catch (error) {
      if (isUpstreamNotFound(error)) throw absentUpstream(error, what);
      return false;
    }
  }
}
