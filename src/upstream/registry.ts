import type { Readable } from "node:stream";
import type { RateLimitSnapshot } from "../coordination/upstream-state.js";
import type { ByteRange, RangeRequest } from "../oci/range.js";

export interface ManifestHead {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

export interface FetchedManifest extends ManifestHead {
  readonly bytes: Buffer;
}

export interface FetchedBlob {
  /** From Content-Length; undefined when the upstream streams without one. */
  readonly size: number | undefined;
  readonly body: Readable;
}

/** Part of a blob, as an upstream answered a ranged GET with 206. */
export interface FetchedRange {
  /** The bytes the upstream says it sent (its `Content-Range`). */
  readonly range: ByteRange;
  /** The whole blob's size, from `Content-Range`. */
  readonly size: number;
  readonly body: Readable;
}

export interface TagPage {
  readonly tags: string[];
  readonly hasMore: boolean;
}

/** What an operator sees of an upstream now: for /api/status and the admin API. */
export interface UpstreamSnapshot {
  readonly rateLimit: RateLimitSnapshot;
  /** Bearer tokens requested from its realm since start-up. */
  readonly tokenRequests: number;
}

/**
 * The read side of a remote registry, as a proxy repository uses it: `UpstreamClient` speaks it
 * over HTTP, tests use an in-memory registry. Every failure is an UpstreamError whose `kind` says
 * whether a cached copy may stand in; `name` is the image name as the upstream knows it.
 */
export interface UpstreamRegistry {
  /** The registry's base URL, never with credentials in it. */
  readonly url: string;
  /** Its host (and port), as containerd names it in `?ns=`. */
  readonly host: string;

  /** A counted request on Docker Hub only when it is a GET: a HEAD answers what a tag points at for free. */
  headManifest(name: string, reference: string, accept: readonly string[]): Promise<ManifestHead>;
  /** The manifest's bytes, verified against the digest asked for (or the one the upstream claimed). */
  getManifest(name: string, reference: string, accept: readonly string[]): Promise<FetchedManifest>;
  headBlob(name: string, digest: string): Promise<{ size: number | undefined }>;
  /** Starts a blob download; the caller must consume or destroy `body`. Its bytes are not verified here. */
  getBlob(name: string, digest: string, signal?: AbortSignal): Promise<FetchedBlob>;
  /**
   * Part of a blob (a ranged GET), for a client's Range while the whole blob is still being
   * downloaded. Undefined when the upstream does not serve that range as one part (it answered
   * 200 with the whole blob, 416, or an unreadable Content-Range): the caller then waits for its
   * own download. Its bytes are not verified here, and cannot be: a range has no digest.
   */
  getBlobRange(
    name: string,
    digest: string,
    range: RangeRequest,
    signal?: AbortSignal,
  ): Promise<FetchedRange | undefined>;
  /** One page of tags as the upstream gives it (it may ignore `limit` and `last`). */
  listTags(name: string, limit?: number, last?: string): Promise<TagPage>;
  /** The upstream's referrers index, or undefined when it has no referrers API. */
  referrers(name: string, digest: string): Promise<Buffer | undefined>;
  snapshot(): Promise<UpstreamSnapshot>;
}
