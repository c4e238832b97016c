import { ALL_MANIFEST_TYPES } from "../oci/media-types.js";
import { UpstreamError } from "../upstream/errors.js";
import type { ManifestHead } from "../upstream/registry.js";
import { SingleFlight } from "../util/single-flight.js";
import { firstTagKey, revalidationKey } from "./flight-keys.js";
import { decideTag, type TagDecision, type TagState, type UpstreamAnswer } from "./freshness.js";
import { absentUpstream, type ProxyContext, remember } from "./proxy-context.js";
import type { ProxyManifests } from "./proxy-manifests.js";
import type { ManifestContent, ManifestRequest } from "./repository.js";

/** A tag this proxy knows, with the stored manifest it points at when this request can be answered from it. */
interface Known {
  readonly state: Extract<TagState, { known: true }>;
  readonly stored: ManifestContent | undefined;
}

/** What a request for one tag is about. */
interface TagRequest {
  readonly name: string;
  readonly tag: string;
  readonly request: ManifestRequest;
  readonly known: Known | undefined;
}

/** The upstream's failure to answer a HEAD, as the freshness rule weighs it. */
function answerOf(error: unknown): UpstreamAnswer {
  if (!(error instanceof UpstreamError)) return { kind: "failed", allowsStale: false };
  return error.kind === "not-found"
    ? { kind: "not-found" }
    : { kind: "failed", allowsStale: error.allowsStale };
}

/**
 * A proxy's tags, the one mutable thing (invariant 4): `decideTag` (freshness.ts) says what to do,
 * and this gathers its facts (the tag's record, the stored manifest, the upstream's HEAD) and does
 * it. Concurrent requests for the same tag share one upstream request.
 */
export class ProxyTags {
  readonly #context: ProxyContext;
  readonly #manifests: ProxyManifests;
  readonly #tagTtlMs: number;
  readonly #flights = new SingleFlight<ManifestContent>();

  constructor(context: ProxyContext, manifests: ProxyManifests, tagTtlMs: number) {
    this.#context = context;
    this.#manifests = manifests;
    this.#tagTtlMs = tagTtlMs;
  }

  async manifest(name: string, tag: string, request: ManifestRequest): Promise<ManifestContent> {
    const { stores, repo, local } = this.#context;
    const record = await stores.meta.getTag(repo, name, tag);
    let known: Known | undefined;
    if (record) {
      const stored = await local.manifest(name, record.digest, request, "hit");
      const state = { known: true, digest: record.digest, validatedAt: record.validatedAt } as const;
      known = { state: { ...state, stored: stored !== undefined }, stored };
    }
    const asked = { name, tag, request, known };
    return this.#act(this.#decide(asked), asked);
  }

  #decide(asked: TagRequest, answer?: UpstreamAnswer): TagDecision {
    return decideTag({
      tag: asked.known?.state ?? { known: false },
      now: this.#context.clock.now(),
      ttlMs: this.#tagTtlMs,
      method: asked.request.method,
      ...(answer === undefined ? {} : { answer }),
    });
  }

  /** Does what the rule decided; `failure` is the upstream's, when its answer was one. */
  async #act(decision: TagDecision, asked: TagRequest, failure?: unknown): Promise<ManifestContent> {
    const { name, tag, request, known } = asked;
    switch (decision.action) {
      case "fetch":
        return this.#flights.run(firstTagKey(name, tag, request), () => this.#first(asked));
      case "revalidate":
        return this.#flights.run(revalidationKey(name, tag, request.method), () => this.#revalidate(asked));
      case "forget":
        await this.#context.stores.meta.deleteTag(this.#context.repo, name, tag);
        throw absentUpstream(failure, "manifest");
      case "fail":
        throw absentUpstream(failure, "manifest");
      case "serve-stale": {
        // The upstream's failure itself is logged once by its client; each stale answer shows in the request log.
        const reason = failure instanceof Error ? failure.message : String(failure);
        if (known?.stored) return { ...known.stored, cache: "stale", staleReason: reason };
        // decideTag serves stale only what is stored; without it the failure is the answer.
        throw absentUpstream(failure, "manifest");
      }
      case "serve":
        return this.#serve(decision, asked);
    }
  }

  async #serve(
    decision: Extract<TagDecision, { action: "serve" }>,
    asked: TagRequest,
  ): Promise<ManifestContent> {
    const { name, tag, request, known } = asked;
    const { stores, repo, local, clock } = this.#context;
    if (decision.record === "validated") {
      await remember(this.#context, "tag", { name, tag }, () =>
        stores.meta.markTagValidated(repo, name, tag, clock.now()),
      );
    }
    if (decision.record === "moved") await this.#rememberTag(name, tag, decision.digest);
    const stored =
      decision.digest === known?.state.digest
        ? known.stored
        : await local.manifest(name, decision.digest, request, decision.cache);
    if (stored) return { ...stored, cache: decision.cache };
    // Not stored (a tag learnt from a HEAD, or moved to new content): fetched by digest, the one
    // case in which a known tag costs a counted GET.
    return this.#manifests.byDigest(name, decision.digest, request);
  }

  /**
   * A tag never seen before. A HEAD is answered by a HEAD upstream (free, and the client may
   * only be checking for updates); the tag is remembered either way, so it later resolves offline.
   */
  async #first({ name, tag, request }: TagRequest): Promise<ManifestContent> {
    const accept = request.accept.length > 0 ? request.accept : ALL_MANIFEST_TYPES;
    try {
      if (request.method === "HEAD") {
        const head = await this.#context.upstream.headManifest(name, tag, accept);
        await this.#rememberTag(name, tag, head.digest);
        return { ...head, cache: "miss" };
      }
      const fetched = await this.#manifests.fetch(name, tag, request.accept);
      await this.#rememberTag(name, tag, fetched.digest);
      return fetched;
    } catch (error) {
      throw absentUpstream(error, "manifest");
    }
  }

  async #revalidate(asked: TagRequest): Promise<ManifestContent> {
    let head: ManifestHead;
    try {
      head = await this.#context.upstream.headManifest(asked.name, asked.tag, ALL_MANIFEST_TYPES);
    } catch (error) {
      return this.#act(this.#decide(asked, answerOf(error)), asked, error);
    }
    return this.#act(this.#decide(asked, { kind: "found", digest: head.digest }), asked);
  }

  #rememberTag(name: string, tag: string, digest: string): Promise<void> {
    const { stores, repo, clock } = this.#context;
    return remember(this.#context, "tag", { name, tag, digest }, () =>
      stores.meta.setTag(repo, name, tag, digest, clock.now()),
    );
  }
}
