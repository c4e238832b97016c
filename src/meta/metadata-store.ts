import type { Page } from "../oci/pagination.js";
import type { OpsRecords } from "./ops-records.js";

/**
 * What wharf knows about content besides its bytes: which repository may serve which manifest
 * and blob (invariant 5), tags, and what manifests reference (for referrers and garbage
 * collection). `repo` is a wharf repository (`docker-hub`), `name` an image name inside it
 * (`library/busybox`). Every method is async so a database server can stand behind it.
 */
export interface ManifestRecord {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly subject?: string;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly createdAt: number;
}

export interface NewManifest extends Omit<ManifestRecord, "createdAt"> {
  /** Digests of the blobs and child manifests this manifest needs. */
  readonly references: readonly string[];
}

export interface TagRecord {
  readonly digest: string;
  /** When the tag last pointed somewhere new (ms since epoch). */
  readonly updatedAt: number;
  /** When an upstream last confirmed it (ms since epoch); equals updatedAt for hosted tags. */
  readonly validatedAt: number;
}

/** The stores page their listings the way the spec does. */
export type { Page };

/** A blob upload in progress (the spec's upload session). */
export interface UploadRecord {
  readonly id: string;
  readonly repo: string;
  readonly name: string;
  /** Bytes received so far. */
  readonly offset: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** One manifest with what it points at, for garbage collection's reachability walk. */
export interface ManifestNode {
  readonly name: string;
  readonly digest: string;
  readonly subject?: string;
  readonly children: readonly string[];
}

export interface BlobLink {
  readonly repo: string;
  readonly name: string;
  readonly digest: string;
  readonly createdAt: number;
}

/**
 * How an image was used: GETs counted, and the last time a client asked for it (a HEAD too: a
 * node checking the image it runs is using it). Written in batches by the usage recorder, so
 * about a minute behind the requests.
 */
export interface PullUsage {
  readonly pulls: number;
  /** ms since epoch; undefined while no pull was recorded. */
  readonly lastPulledAt?: number;
}

/** Usage gathered since the last flush, written together by `recordUsage`. */
export interface UsageBatch {
  /** Manifests served, by digest (a pull by tag counts for the digest it resolved to as well). */
  readonly manifests: ReadonlyArray<{
    repo: string;
    name: string;
    digest: string;
    pulls: number;
    at: number;
  }>;
  readonly tags: ReadonlyArray<{ repo: string; name: string; tag: string; pulls: number; at: number }>;
  /** Blobs served: only when, not how often (layers are asked for in parallel and by range). */
  readonly blobs: ReadonlyArray<{ repo: string; name: string; digest: string; at: number }>;
}

/** A stored manifest with what eviction weighs: its size, age and use. */
export interface ManifestEntry extends ManifestNode, PullUsage {
  readonly size: number;
  readonly createdAt: number;
}

export interface TagEntry extends PullUsage {
  readonly name: string;
  readonly tag: string;
  readonly digest: string;
  readonly updatedAt: number;
}

export interface BlobLinkEntry {
  readonly name: string;
  readonly digest: string;
  readonly size: number;
  readonly createdAt: number;
  readonly lastServedAt?: number;
}

/** Image names from just after `after` up to and including `through`; either end open when absent. */
export interface NameSpan {
  readonly after?: string;
  readonly through?: string;
}

/** Everything one repository holds, for eviction's planner and for verification. */
export interface RepositoryContent {
  readonly manifests: readonly ManifestEntry[];
  readonly tags: readonly TagEntry[];
  readonly blobs: readonly BlobLinkEntry[];
}

/**
 * Bytes held, counting each digest once per repository (a repository's share) and once overall
 * (what the store holds for all of them). Manifests count with the blobs: they are files too.
 */
export interface ContentBytes {
  readonly total: number;
  readonly repositories: Readonly<Record<string, number>>;
}

/**
 * Everything a store can read and write; inside a transaction, through its handle. The operator's
 * records (time series, activity) live in the same database: `OpsRecords`.
 */
export interface MetadataTransaction extends OpsRecords {
  getManifest(repo: string, name: string, digest: string): Promise<ManifestRecord | undefined>;
  /** Records a manifest (idempotent) and what it references. */
  putManifest(repo: string, name: string, manifest: NewManifest): Promise<void>;
  /** Removes a manifest and every tag pointing at it; returns whether it existed. */
  deleteManifest(repo: string, name: string, digest: string): Promise<boolean>;
  /** Whether repo/name holds anything at all (manifest, tag or blob): the spec's "known name". */
  hasName(repo: string, name: string): Promise<boolean>;
  /** Manifests in repo/name whose `subject` is `digest`. */
  listReferrers(repo: string, name: string, digest: string): Promise<ManifestRecord[]>;

  getTag(repo: string, name: string, tag: string): Promise<TagRecord | undefined>;
  setTag(repo: string, name: string, tag: string, digest: string, now: number): Promise<void>;
  markTagValidated(repo: string, name: string, tag: string, now: number): Promise<void>;
  deleteTag(repo: string, name: string, tag: string): Promise<boolean>;
  /** Tags of repo/name in lexical order; `more` says whether a further page exists. */
  listTags(repo: string, name: string, page?: Page): Promise<{ tags: string[]; more: boolean }>;

  hasBlob(repo: string, name: string, digest: string): Promise<boolean>;
  linkBlob(repo: string, name: string, digest: string, size: number): Promise<void>;
  unlinkBlob(repo: string, name: string, digest: string): Promise<boolean>;

  /** Image names of a repository that hold at least one manifest, in lexical order. */
  listNames(repo: string, page?: Page): Promise<{ names: string[]; more: boolean }>;

  createUpload(upload: UploadRecord): Promise<void>;
  getUpload(id: string): Promise<UploadRecord | undefined>;
  setUploadOffset(id: string, offset: number, now: number): Promise<void>;
  deleteUpload(id: string): Promise<void>;
  /** Uploads nobody has touched since `before` (ms since epoch). */
  listIdleUploads(before: number): Promise<UploadRecord[]>;

  /** Every manifest of a repository with its children and subject. */
  listManifestNodes(repo: string): Promise<ManifestNode[]>;
  /** Every (name, tag → digest) of a repository. */
  listAllTags(repo: string): Promise<Array<{ name: string; tag: string; digest: string }>>;
  /** Repositories that hold any metadata at all (including ones no longer configured). */
  listRepositories(): Promise<string[]>;
  listBlobLinks(): Promise<BlobLink[]>;

  /**
   * Adds a batch of usage, atomically: pull counts add up, last-pulled times only move forward.
   * Usage of content that is no longer recorded (evicted meanwhile) is dropped.
   */
  recordUsage(batch: UsageBatch): Promise<void>;
  /**
   * Every manifest, tag and blob link of a repository, with sizes, times and usage; only those of
   * the names in `span` when given (names compare as `listNames` orders them), so that a big
   * repository can be read a slice of names at a time.
   */
  listContent(repo: string, span?: NameSpan): Promise<RepositoryContent>;
  /** What the recorded content weighs, per repository and overall. */
  measureContent(): Promise<ContentBytes>;
  /**
   * Whether anything still needs the file of `digest`: a blob link or a manifest of any repository
   * that is it, or a manifest that references it. The last check before a file is deleted.
   */
  isReferenced(digest: string): Promise<boolean>;
  /**
   * Removes every blob link to `digest` and every manifest that is `digest` (with its tags), in every
   * repository: for content whose file is gone or corrupt. Returns what went.
   */
  forgetDigest(
    digest: string,
  ): Promise<{ links: BlobLink[]; manifests: Array<{ repo: string; name: string }> }>;
}

export interface MetadataStore extends MetadataTransaction {
  /**
   * Runs `work` as one transaction: its writes through `tx` commit together when the promise it
   * returns resolves, and none of them when it rejects (the rejection comes back unchanged).
   *
   * Guaranteed: nobody else sees any of its writes before the commit, and everyone sees all of
   * them after it; `tx` reads the transaction's own writes; writes made outside `work` (through
   * the store, by other requests) never become part of it, so a rollback never takes them along.
   * Whether other callers wait for the transaction (SQLite: one connection, so they do, and
   * transactions run one after another) or run beside it on a connection of their own
   * (PostgreSQL: the transaction checks one out of the pool) is the backend's business.
   *
   * Not guaranteed: that what `work` read stays true until it commits. Isolation is the
   * backend's default (SQLite serialises; PostgreSQL reads committed data, so another commit can
   * land between a read and a write): let a write itself refuse a conflict instead of a prior
   * read. Nothing outside metadata takes part: write bytes before, delete files after.
   *
   * Keep `work` short and free of network or file I/O: with SQLite every other metadata call of
   * the process waits for it. Use only `tx` inside `work`, and not after it: `tx` refuses calls
   * once the transaction ended. Nesting is refused: `tx` has no `transaction`, and calling the
   * store itself from inside `work` is a bug (SQLite makes it wait for the end of the very
   * transaction that waits for it; PostgreSQL runs it outside the transaction).
   */
  transaction<T>(work: (tx: MetadataTransaction) => Promise<T>): Promise<T>;

  /** Waits for an open transaction to end, then closes. */
  close(): Promise<void>;
}
