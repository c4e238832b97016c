/**
 * Invariant 4, the freshness rule of a proxy's tags, as one pure function. Content named by digest
 * never changes and needs no rule; a tag is the one mutable thing. The proxy's tag path
 * (`proxy-tags.ts`) gathers the facts, asks `decideTag`, and does what it says.
 */

/** What the proxy knows of a tag. */
export type TagState =
  | { readonly known: false }
  | {
      readonly known: true;
      /** Where the tag pointed when last seen. */
      readonly digest: string;
      /** When the upstream last confirmed it (ms since epoch). */
      readonly validatedAt: number;
      /** Whether the store holds that manifest in a form this request can be answered with. */
      readonly stored: boolean;
    };

/** What the upstream answered to a HEAD of the tag. */
export type UpstreamAnswer =
  | { readonly kind: "found"; readonly digest: string }
  | { readonly kind: "not-found" }
  /** `allowsStale`: an outage, a 429 or refused credentials, not an unusable answer or a bug. */
  | { readonly kind: "failed"; readonly allowsStale: boolean };

export type TagDecision =
  /** Never seen: ask the upstream for the tag itself (a HEAD for a HEAD, a GET for a GET), remember it. */
  | { readonly action: "fetch" }
  /** Ask the upstream with a HEAD (free on Docker Hub), then decide again with its answer. */
  | { readonly action: "revalidate" }
  /**
   * Answer with the manifest of `digest`: from the store when it holds it, else fetched by digest.
   * `record` is what the answer taught: the tag was confirmed, or it moved to `digest`.
   */
  | {
      readonly action: "serve";
      readonly digest: string;
      readonly cache: "hit" | "revalidated";
      readonly record?: "validated" | "moved";
    }
  /** The upstream failed: answer with the stored manifest of `digest`, marked stale (stale-if-error). */
  | { readonly action: "serve-stale"; readonly digest: string }
  /** The upstream says the tag is gone: drop it, answer "not found". */
  | { readonly action: "forget" }
  /** The upstream failed and nothing stored may stand in: its failure is the answer. */
  | { readonly action: "fail" };

export interface TagQuestion {
  readonly tag: TagState;
  readonly now: number;
  /** How long a confirmed tag is trusted; 0 revalidates every time. */
  readonly ttlMs: number;
  readonly method: "GET" | "HEAD";
  /** The upstream's answer to the revalidation, once there was one. */
  readonly answer?: UpstreamAnswer;
}

export function decideTag({ tag, now, ttlMs, method, answer }: TagQuestion): TagDecision {
  if (!tag.known) return { action: "fetch" };
  if (answer === undefined) {
    const fresh = now - tag.validatedAt < ttlMs;
    // A tag learnt from a HEAD has no stored manifest: a GET then fetches it by digest (the tag
    // is trusted), while a HEAD, which could be answered only upstream anyway, revalidates.
    if (fresh && (tag.stored || method === "GET"))
      return { action: "serve", digest: tag.digest, cache: "hit" };
    return { action: "revalidate" };
  }
  switch (answer.kind) {
    case "found":
      return answer.digest === tag.digest
        ? { action: "serve", digest: tag.digest, cache: "revalidated", record: "validated" }
        : { action: "serve", digest: answer.digest, cache: "hit", record: "moved" };
    case "not-found":
      // Authoritative: serving the old digest would resurrect a tag its owner deleted.
      return { action: "forget" };
    case "failed":
      return answer.allowsStale && tag.stored
        ? { action: "serve-stale", digest: tag.digest }
        : { action: "fail" };
  }
}
