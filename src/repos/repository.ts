import type { Readable } from "node:stream";
import type { Page } from "../meta/metadata-store.js";
import type { Descriptor } from "../oci/manifest.js";
import type { Reference } from "../oci/names.js";
import type { ByteRange, RangeRequest } from "../oci/range.js";

/**
 * How a response was produced, reported to clients in `X-Wharf-Cache` and in the request log:
 * `hit` from the store; `revalidated` from the store after upstream confirmed it; `miss`
 * fetched from upstream; `stale` from the store because upstream failed (stale-if-error).
 */
export type CacheStatus = "hit" | "revalidated" | "miss" | "stale";

export interface BlobContent {
  /** Total size; undefined only while an upstream streams a blob without Content-Length. */
  readonly size: number | undefined;
  /** The bytes selected by the request's Range, when it had a satisfiable one. */
  readonly range?: ByteRange;
  readonly stream: Readable;
  readonly cache: CacheStatus;
}

export interface ManifestContent {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** Absent when only a HEAD was answered and the bytes were never needed. */
  readonly bytes?: Buffer;
  readonly cache: CacheStatus;
  /** Why stale content was served: the upstream failure, for the log and the Warning header. */
  readonly staleReason?: string;
}

export interface ManifestRequest {
  readonly method: "GET" | "HEAD";
  /** The client's Accept list, parsed; empty when it sent none. */
  readonly accept: readonly string[];
}

/**
 * The read side every repository kind offers. Methods throw OciError for what the client
 * should hear (BLOB_UNKNOWN, MANIFEST_UNKNOWN, TOOMANYREQUESTS…); `name` is the image name
 * as the client wrote it, and each repository canonicalizes it its own way.
 */
export interface RepositoryReader {
  readonly name: string;
  readonly kind: "proxy" | "hosted" | "group";

  statBlob(name: string, digest: string): Promise<{ size: number | undefined; cache: CacheStatus }>;
  openBlob(name: string, digest: string, range?: RangeRequest): Promise<BlobContent>;
  getManifest(name: string, reference: Reference, request: ManifestRequest): Promise<ManifestContent>;
  listTags(name: string, page: Page): Promise<{ tags: string[]; more: boolean }>;
  /** Manifests whose subject is `digest`, as referrers-index descriptors. */
  listReferrers(name: string, digest: string): Promise<Descriptor[]>;
  /** Image names this repository holds (for a proxy: what it has cached). */
  listNames(page: Page): Promise<{ names: string[]; more: boolean }>;
}

export type Repository = RepositoryReader;
