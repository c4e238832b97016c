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

export interface Page {
  readonly limit?: number;
  /** Exclusive lower bound in lexical order, as the spec's `last` parameter. */
  readonly last?: string;
}

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

export interface MetadataStore {
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

  close(): Promise<void>;
}
