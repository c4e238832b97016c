import type { Readable } from "node:stream";
import type { Descriptor } from "../oci/manifest.js";
import type { Reference } from "../oci/names.js";
import type { Page } from "../oci/pagination.js";
import type { ByteRange, RangeRequest } from "../oci/range.js";
import type { BlobBody } from "../store/blob-body.js";
import type { ChunkClaim } from "../store/upload-sessions.js";
import type { UpstreamSnapshot } from "../upstream/registry.js";

/**
 * How a response was produced, reported to clients in `X-Wharf-Cache` and in the request log:
 * `hit` from the store; `revalidated` from the store after upstream confirmed it; `miss`
 * fetched from upstream; `stale` from the store because upstream failed (stale-if-error).
 */
export type CacheStatus = "hit" | "revalidated" | "miss" | "stale";

export interface BlobContent {
  /** The repository whose content answered (a group's member): what metrics count it under. */
  readonly servedBy?: string;
  /** Total size; undefined only while an upstream streams a blob without Content-Length. */
  readonly size: number | undefined;
  /** The bytes selected by the request's Range, when it had a satisfiable one. */
  readonly range?: ByteRange;
  /** The bytes (or where to get them), as the store or the download declares them; http sends or releases it. */
  readonly body: BlobBody;
  readonly cache: CacheStatus;
  /** For a download: settles once it ended, true when the blob was kept (stored and linked here). */
  readonly kept?: Promise<boolean>;
}

export interface ManifestContent {
  /** The repository whose content answered (a group's member): what metrics count it under. */
  readonly servedBy?: string;
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** Absent when only a HEAD was answered and the bytes were never needed. */
  readonly bytes?: Buffer;
  readonly cache: CacheStatus;
  /** Why stale content was served: the upstream failure, for the log and the Warning header. */
  readonly staleReason?: string;
}

export interface BlobStat {
  readonly size: number | undefined;
  readonly cache: CacheStatus;
  /** The repository that answered (a group's member). */
  readonly servedBy?: string;
}

export interface ManifestRequest {
  readonly method: "GET" | "HEAD";
  /** The client's Accept list, parsed; empty when it sent none. */
  readonly accept: readonly string[];
  /** Asked by wharf itself (sync), not a client: the image counts as used, but no pull is counted. */
  readonly background?: boolean;
}

/**
 * The read side every repository kind offers. Methods throw domain errors (`util/errors.ts`):
 * NotFoundError naming what is missing (a group then asks its next member), RangeNotSatisfiableError,
 * BadUpstreamAnswerError…, or an UpstreamError (rate-limited, unavailable) when an upstream failed
 * and nothing cached could stand in; `http/error-mapping.ts` turns them into what the client hears.
 * `name` is the image name as the client wrote it, and each repository canonicalizes it its own way.
 */
export interface RepositoryReader {
  readonly name: string;

  statBlob(name: string, digest: string): Promise<BlobStat>;
  openBlob(name: string, digest: string, range?: RangeRequest): Promise<BlobContent>;
  getManifest(name: string, reference: Reference, request: ManifestRequest): Promise<ManifestContent>;
  listTags(name: string, page: Page): Promise<{ tags: string[]; more: boolean }>;
  /** Manifests whose subject is `digest`, as referrers-index descriptors. */
  listReferrers(name: string, digest: string): Promise<Descriptor[]>;
  /** Image names this repository holds (for a proxy: what it has cached). */
  listNames(page: Page): Promise<{ names: string[]; more: boolean }>;
  /** Whether this repository itself holds the blob for `name`, without asking any upstream. */
  hasLocalBlob(name: string, digest: string): Promise<boolean>;
}

export interface UploadState {
  readonly id: string;
  /** Bytes received so far. */
  readonly offset: number;
}

/**
 * The write side: blob uploads, mounts, manifest pushes and deletes. Only hosted repositories
 * implement it; a group lends out its designated hosted member's.
 */
export interface RepositoryWriter {
  /** The repository whose content the writes change (a group's hosted member). */
  readonly name: string;
  startUpload(name: string): Promise<UploadState>;
  uploadState(name: string, id: string): Promise<UploadState>;
  appendUpload(name: string, id: string, body: Readable, claim: ChunkClaim): Promise<UploadState>;
  finishUpload(
    name: string,
    id: string,
    digest: string,
    body: Readable | undefined,
    claim: ChunkClaim,
  ): Promise<{ digest: string; size: number }>;
  cancelUpload(name: string, id: string): Promise<void>;
  /** Links a blob `source` holds for `sourceName` into `name`; false when the source has no such blob. */
  mountBlob(name: string, digest: string, source: RepositoryReader, sourceName: string): Promise<boolean>;
  /** Stores a manifest; throws MissingReferenceError when something it references is missing. */
  putManifest(
    name: string,
    reference: Reference,
    bytes: Buffer,
    contentType: string | undefined,
  ): Promise<{ digest: string; subject?: string }>;
  /** By digest removes the manifest (and its tags); by tag removes only the tag. */
  deleteManifest(name: string, reference: Reference): Promise<void>;
  deleteBlob(name: string, digest: string): Promise<void>;
}

/**
 * A repository as its callers see it: they never learn its kind (handlers, the access gate and
 * routing ask these methods instead), so a new kind changes nothing above `repos/`.
 */
export interface Repository extends RepositoryReader {
  /** Where pushes to this repository go; undefined when it takes none. */
  readonly writer: RepositoryWriter | undefined;
  /**
   * The repositories this one answers from, in order: a group's members. Empty for a repository
   * that holds content itself (a configured group always has members).
   */
  readonly members: readonly Repository[];
  /**
   * Registry hosts containerd may name in `?ns=` to reach this repository: a proxy's upstream
   * host (and Docker Hub's aliases when it stands for Docker Hub); empty for the others.
   */
  readonly registryHosts: readonly string[];
  /**
   * What one client may read through this repository: a group keeps only the members `canRead`
   * admits (nested groups narrowed alike), and still sends pushes where it did; any other
   * repository is itself. `canRead` answers for groups too (readable when some member is).
   */
  visibleTo(canRead: (member: Repository) => boolean): Repository;
  /** What it is and how it stands, for /api/status and the admin API: never a secret. */
  describe(): Promise<RepositoryDescription>;
}

export type RepositoryDescription =
  | { readonly type: "proxy"; readonly name: string; readonly upstream: UpstreamDescription }
  | { readonly type: "hosted"; readonly name: string; readonly allowDelete: boolean }
  | {
      readonly type: "group";
      readonly name: string;
      readonly members: readonly string[];
      /** The repository that takes the group's pushes, if any. */
      readonly pushTo: string | undefined;
    };

export interface UpstreamDescription extends UpstreamSnapshot {
  /** Without credentials. */
  readonly url: string;
  readonly registryHosts: readonly string[];
  /** Single-component names are asked for under `library/`, as Docker Hub keeps official images. */
  readonly libraryPrefix: boolean;
  /** How long a tag is trusted before it is revalidated upstream. */
  readonly tagTtlMs: number;
}

/**
 * The repositories that hold content for `repository`, reached through groups in order: itself
 * when it has no members. The access rules and the catalog are about these.
 */
export function holdersOf(repository: Repository): Repository[] {
  return repository.members.length === 0 ? [repository] : repository.members.flatMap(holdersOf);
}
