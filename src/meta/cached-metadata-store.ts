import { Lru } from "../util/lru.js";
import type {
  BlobLink,
  ContentBytes,
  ManifestNode,
  ManifestRecord,
  MetadataStore,
  MetadataTransaction,
  NameSpan,
  NewManifest,
  Page,
  RepositoryContent,
  TagRecord,
  UploadRecord,
  UsageBatch,
} from "./metadata-store.js";
import { ForwardedOpsRecords } from "./ops-records.js";

/**
 * What a write changed, as caches drop it: everything recorded for one image name of one
 * repository, or everything (a digest forgotten in every repository).
 */
export type MetadataChange = { readonly repo: string; readonly name: string } | { readonly everything: true };

export interface MetadataCacheOptions {
  /**
   * A number that changes whenever another process (the CLI beside a server: gc, verify) or
   * node committed to the database: SQLite's `data_version`. Asked on every cached read; when
   * it moved, everything cached is dropped, so outside changes are seen at the next read.
   */
  readonly outsideVersion?: () => number;
  /** For backends without such a number: nothing cached is served older than this. */
  readonly maxAgeMs?: number;
  /** Told every change this store made, for the caches of other nodes (coordination's invalidations). */
  readonly changed?: (change: MetadataChange) => void;
  /** Image names whose lookups are kept; the least recently used go first. */
  readonly maxNames?: number;
  /** Repositories whose lookups are kept (all by default); the others are read every time. */
  readonly cacheable?: (repo: string) => boolean;
  readonly now?: () => number;
}

/** What one image name's lookups found: a missing record is cached too (as undefined). */
interface NameEntry {
  readonly at: number;
  readonly tags: Map<string, TagRecord | undefined>;
  readonly manifests: Map<string, ManifestRecord | undefined>;
  readonly blobs: Map<string, boolean>;
}

const DEFAULT_MAX_NAMES = 20_000;
/** Lookups kept per name: a name with more is started afresh (an image has a few dozen). */
const MAX_PER_NAME = 4_096;

const scopeOf = (repo: string, name: string): string => `${repo}\n${name}`;

/**
 * A MetadataStore that answers the request path's lookups (a tag, a manifest record, a blob link)
 * from memory: a warm manifest GET reads no database. Correct however the store is changed:
 *
 * - through this store (a push, a delete, a revalidation, eviction's and gc's transactions): the
 *   name's lookups are dropped once the write is done (a transaction's once it committed), and a
 *   lookup that was reading meanwhile is not kept (a generation counter), so no read after a
 *   write returns what the write replaced;
 * - by another process on the same database (`wharf gc`, `wharf verify --repair` beside a
 *   server): `outsideVersion` moves, and everything is dropped before the next lookup;
 * - by another node: `changed` publishes each change for the others to `invalidate`, and
 *   `maxAgeMs` bounds what a lost message could leave.
 *
 * Tag freshness is unaffected: a cached tag carries its `validatedAt`, judged against the clock at
 * each request as before. Everything else goes straight to the store.
 */
export class CachedMetadataStore extends ForwardedOpsRecords implements MetadataStore {
  readonly #inner: MetadataStore;
  readonly #options: MetadataCacheOptions;
  readonly #now: () => number;
  readonly #names: Lru<string, NameEntry>;
  /** Moves at every invalidation: a lookup that read across one is not kept. */
  #generation = 0;
  #version: number | undefined;
  readonly #writes: MetadataTransaction;

  protected readonly opsRecords: MetadataStore;

  constructor(inner: MetadataStore, options: MetadataCacheOptions = {}) {
    super();
    this.#inner = inner;
    this.opsRecords = inner;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#names = new Lru({ maxEntries: options.maxNames ?? DEFAULT_MAX_NAMES });
    this.#version = options.outsideVersion?.();
    this.#writes = observedWrites(inner, (change) => this.#changedHere(change));
  }

  /** Drops what `change` names: another node's change, heard through the invalidations. */
  invalidate(change: MetadataChange): void {
    this.#generation++;
    if ("everything" in change) this.#names.clear();
    else this.#names.delete(scopeOf(change.repo, change.name));
  }

  #changedHere(change: MetadataChange): void {
    this.invalidate(change);
    this.#options.changed?.(change);
  }

  /** The name's entry, once outside changes and age have been accounted for. */
  #entry(repo: string, name: string): NameEntry | undefined {
    const version = this.#options.outsideVersion?.();
    if (version !== this.#version) {
      this.#version = version;
      this.invalidate({ everything: true });
      return undefined;
    }
    const key = scopeOf(repo, name);
    const entry = this.#names.get(key);
    if (entry && this.#options.maxAgeMs !== undefined && this.#now() - entry.at > this.#options.maxAgeMs) {
      this.#names.delete(key);
      return undefined;
    }
    return entry;
  }

  async #lookup<V>(
    repo: string,
    name: string,
    pick: (entry: NameEntry) => Map<string, V>,
    key: string,
    read: () => Promise<V>,
  ): Promise<V> {
    if (this.#options.cacheable && !this.#options.cacheable(repo)) return read();
    const cached = this.#entry(repo, name);
    if (cached) {
      const map = pick(cached);
      if (map.has(key)) return map.get(key) as V;
    }
    const generation = this.#generation;
    const value = await read();
    if (generation !== this.#generation) return value;
    let entry = this.#names.get(scopeOf(repo, name));
    if (!entry) {
      entry = { at: this.#now(), tags: new Map(), manifests: new Map(), blobs: new Map() };
      this.#names.set(scopeOf(repo, name), entry);
    }
    const map = pick(entry);
    if (map.size >= MAX_PER_NAME) map.clear();
    map.set(key, value);
    return value;
  }

  // ---- what the request path asks: cached ----

  getTag(repo: string, name: string, tag: string): Promise<TagRecord | undefined> {
    return this.#lookup(
      repo,
      name,
      (e) => e.tags,
      tag,
      () => this.#inner.getTag(repo, name, tag),
    );
  }

  getManifest(repo: string, name: string, digest: string): Promise<ManifestRecord | undefined> {
    return this.#lookup(
      repo,
      name,
      (e) => e.manifests,
      digest,
      () => this.#inner.getManifest(repo, name, digest),
    );
  }

  hasBlob(repo: string, name: string, digest: string): Promise<boolean> {
    return this.#lookup(
      repo,
      name,
      (e) => e.blobs,
      digest,
      () => this.#inner.hasBlob(repo, name, digest),
    );
  }

  // ---- transactions: their changes are dropped once committed ----

  async transaction<T>(work: (tx: MetadataTransaction) => Promise<T>): Promise<T> {
    const changes: MetadataChange[] = [];
    try {
      return await this.#inner.transaction((tx) =>
        work(observedWrites(tx, (change) => changes.push(change))),
      );
    } finally {
      // After the commit (or the rollback, which changed nothing: dropping is harmless).
      for (const change of changes) this.#changedHere(change);
    }
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  // ---- everything else: straight through, writes observed ----

  putManifest(repo: string, name: string, manifest: NewManifest): Promise<void> {
    return this.#writes.putManifest(repo, name, manifest);
  }
  deleteManifest(repo: string, name: string, digest: string): Promise<boolean> {
    return this.#writes.deleteManifest(repo, name, digest);
  }
  hasName(repo: string, name: string): Promise<boolean> {
    return this.#inner.hasName(repo, name);
  }
  listReferrers(repo: string, name: string, digest: string): Promise<ManifestRecord[]> {
    return this.#inner.listReferrers(repo, name, digest);
  }
  setTag(repo: string, name: string, tag: string, digest: string, now: number): Promise<void> {
    return this.#writes.setTag(repo, name, tag, digest, now);
  }
  markTagValidated(repo: string, name: string, tag: string, now: number): Promise<void> {
    return this.#writes.markTagValidated(repo, name, tag, now);
  }
  deleteTag(repo: string, name: string, tag: string): Promise<boolean> {
    return this.#writes.deleteTag(repo, name, tag);
  }
  listTags(repo: string, name: string, page?: Page): Promise<{ tags: string[]; more: boolean }> {
    return this.#inner.listTags(repo, name, page);
  }
  linkBlob(repo: string, name: string, digest: string, size: number): Promise<void> {
    return this.#writes.linkBlob(repo, name, digest, size);
  }
  unlinkBlob(repo: string, name: string, digest: string): Promise<boolean> {
    return this.#writes.unlinkBlob(repo, name, digest);
  }
  listNames(repo: string, page?: Page): Promise<{ names: string[]; more: boolean }> {
    return this.#inner.listNames(repo, page);
  }
  createUpload(upload: UploadRecord): Promise<void> {
    return this.#inner.createUpload(upload);
  }
  getUpload(id: string): Promise<UploadRecord | undefined> {
    return this.#inner.getUpload(id);
  }
  setUploadOffset(id: string, offset: number, now: number): Promise<void> {
    return this.#inner.setUploadOffset(id, offset, now);
  }
  deleteUpload(id: string): Promise<void> {
    return this.#inner.deleteUpload(id);
  }
  listIdleUploads(before: number): Promise<UploadRecord[]> {
    return this.#inner.listIdleUploads(before);
  }
  listManifestNodes(repo: string): Promise<ManifestNode[]> {
    return this.#inner.listManifestNodes(repo);
  }
  listAllTags(repo: string): Promise<Array<{ name: string; tag: string; digest: string }>> {
    return this.#inner.listAllTags(repo);
  }
  listRepositories(): Promise<string[]> {
    return this.#inner.listRepositories();
  }
  listBlobLinks(): Promise<BlobLink[]> {
    return this.#inner.listBlobLinks();
  }
  recordUsage(batch: UsageBatch): Promise<void> {
    // Usage changes nothing a lookup returns.
    return this.#inner.recordUsage(batch);
  }
  listContent(repo: string, span?: NameSpan): Promise<RepositoryContent> {
    return this.#inner.listContent(repo, span);
  }
  measureContent(): Promise<ContentBytes> {
    return this.#inner.measureContent();
  }
  isReferenced(digest: string): Promise<boolean> {
    return this.#inner.isReferenced(digest);
  }
  forgetDigest(
    digest: string,
  ): Promise<{ links: BlobLink[]; manifests: Array<{ repo: string; name: string }> }> {
    return this.#writes.forgetDigest(digest);
  }
}

/**
 * `inner` with every write reporting what it changed once it is done (whether it succeeded or
 * not: a failed write may have changed something, and dropping too much is harmless).
 */
function observedWrites(
  inner: MetadataTransaction,
  changed: (change: MetadataChange) => void,
): MetadataTransaction {
  const after = <T>(change: MetadataChange, write: Promise<T>): Promise<T> =>
    write.finally(() => changed(change));
  const name = (repo: string, image: string): MetadataChange => ({ repo, name: image });
  return {
    ...bound(inner),
    putManifest: (repo, image, manifest) =>
      after(name(repo, image), inner.putManifest(repo, image, manifest)),
    deleteManifest: (repo, image, digest) =>
      after(name(repo, image), inner.deleteManifest(repo, image, digest)),
    setTag: (repo, image, tag, digest, now) =>
      after(name(repo, image), inner.setTag(repo, image, tag, digest, now)),
    markTagValidated: (repo, image, tag, now) =>
      after(name(repo, image), inner.markTagValidated(repo, image, tag, now)),
    deleteTag: (repo, image, tag) => after(name(repo, image), inner.deleteTag(repo, image, tag)),
    linkBlob: (repo, image, digest, size) =>
      after(name(repo, image), inner.linkBlob(repo, image, digest, size)),
    unlinkBlob: (repo, image, digest) => after(name(repo, image), inner.unlinkBlob(repo, image, digest)),
    forgetDigest: (digest) => after({ everything: true }, inner.forgetDigest(digest)),
  };
}

/** Every method of a transaction handle, bound to it, for a wrapper that replaces some. */
function bound(inner: MetadataTransaction): MetadataTransaction {
  return {
    getManifest: (...a) => inner.getManifest(...a),
    putManifest: (...a) => inner.putManifest(...a),
    deleteManifest: (...a) => inner.deleteManifest(...a),
    hasName: (...a) => inner.hasName(...a),
    listReferrers: (...a) => inner.listReferrers(...a),
    getTag: (...a) => inner.getTag(...a),
    setTag: (...a) => inner.setTag(...a),
    markTagValidated: (...a) => inner.markTagValidated(...a),
    deleteTag: (...a) => inner.deleteTag(...a),
    listTags: (...a) => inner.listTags(...a),
    hasBlob: (...a) => inner.hasBlob(...a),
    linkBlob: (...a) => inner.linkBlob(...a),
    unlinkBlob: (...a) => inner.unlinkBlob(...a),
    listNames: (...a) => inner.listNames(...a),
    createUpload: (...a) => inner.createUpload(...a),
    getUpload: (...a) => inner.getUpload(...a),
    setUploadOffset: (...a) => inner.setUploadOffset(...a),
    deleteUpload: (...a) => inner.deleteUpload(...a),
    listIdleUploads: (...a) => inner.listIdleUploads(...a),
    listManifestNodes: (...a) => inner.listManifestNodes(...a),
    listAllTags: (...a) => inner.listAllTags(...a),
    listRepositories: (...a) => inner.listRepositories(...a),
    listBlobLinks: (...a) => inner.listBlobLinks(...a),
    recordUsage: (...a) => inner.recordUsage(...a),
    listContent: (...a) => inner.listContent(...a),
    measureContent: (...a) => inner.measureContent(...a),
    isReferenced: (...a) => inner.isReferenced(...a),
    forgetDigest: (...a) => inner.forgetDigest(...a),
    recordSamples: (...a) => inner.recordSamples(...a),
    listSamples: (...a) => inner.listSamples(...a),
    trimSamples: (...a) => inner.trimSamples(...a),
    appendActivity: (...a) => inner.appendActivity(...a),
    listActivity: (...a) => inner.listActivity(...a),
    trimActivity: (...a) => inner.trimActivity(...a),
  };
}
