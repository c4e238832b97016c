import { ingesting } from "../coordination/ingest-guard.js";
import { type ManifestInfo, parseManifest } from "../oci/manifest.js";
import { ALL_MANIFEST_TYPES } from "../oci/media-types.js";
import type { FetchedManifest } from "../upstream/registry.js";
import { BadUpstreamAnswerError } from "../util/errors.js";
import { SingleFlight } from "../util/single-flight.js";
import type { Adoption } from "./adoption.js";
import { manifestRecordOf } from "./content.js";
import { manifestFetchKey } from "./flight-keys.js";
import { absentUpstream, type ProxyContext, remember } from "./proxy-context.js";
import type { ManifestContent, ManifestRequest } from "./repository.js";

/**
 * A proxy's manifests by digest, immutable like blobs: served from the store, else fetched once
 * (concurrent requests share the GET), verified, kept and recorded. The tag path ends here too.
 */
export class ProxyManifests {
  readonly #context: ProxyContext;
  readonly #adoption: Adoption;
  readonly #fetches = new SingleFlight<ManifestContent>();

  constructor(context: ProxyContext, adoption: Adoption) {
    this.#context = context;
    this.#adoption = adoption;
  }

  async byDigest(name: string, digest: string, request: ManifestRequest): Promise<ManifestContent> {
    const stored =
      (await this.#context.local.manifest(name, digest, request, "hit")) ??
      (await this.#adoption.manifest(name, digest, request));
    if (stored) return stored;
    if (request.method === "HEAD") {
      // A HEAD is free upstream; a GET would count as a pull for a client that only asked.
      try {
        return {
          ...(await this.#context.upstream.headManifest(name, digest, ALL_MANIFEST_TYPES)),
          cache: "miss",
        };
      } catch (error) {
        throw absentUpstream(error, "manifest");
      }
    }
    return this.#fetches.run(manifestFetchKey(name, digest), () => this.fetch(name, digest, request.accept));
  }

  /** A counted GET upstream; the verified manifest is stored and recorded before it is returned. */
  async fetch(name: string, reference: string, clientAccept: readonly string[]): Promise<ManifestContent> {
    const { upstream, stores, repo, logger } = this.#context;
    const accept = clientAccept.length > 0 ? clientAccept : ALL_MANIFEST_TYPES;
    let fetched: FetchedManifest;
    try {
      fetched = await upstream.getManifest(name, reference, accept);
    } catch (error) {
      throw absentUpstream(error, "manifest");
    }
    this.#context.observer.fetched(repo, "manifest", fetched.size);
    let info: ManifestInfo;
    try {
      info = parseManifest(fetched.bytes, fetched.mediaType);
    } catch (error) {
      logger.error(
        { err: error, repo, upstream: upstream.url, name, reference },
        "upstream sent an invalid manifest; not cached",
      );
      throw new BadUpstreamAnswerError("upstream sent an invalid manifest", { cause: error });
    }
    // Held from the write (which keeps a file already there) to the record that makes it ours.
    await ingesting(stores.ingests, fetched.digest, () =>
      remember(this.#context, "manifest", { name, digest: fetched.digest }, async () => {
        await stores.documents.write(fetched.digest, fetched.bytes);
        await stores.meta.putManifest(repo, name, manifestRecordOf(fetched.digest, fetched.size, info));
      }),
    );
    return {
      digest: fetched.digest,
      mediaType: info.mediaType,
      size: fetched.size,
      bytes: fetched.bytes,
      cache: "miss",
    };
  }
}
