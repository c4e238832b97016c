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
import type { ActivityRecord, NewActivity, SeriesResolution, SeriesSample } from "./ops-records.js";
import { whileOpen } from "./transaction-handle.js";

/** A backend with one connection that cannot tell its callers apart (better-sqlite3, memory). */
export interface SingleConnection {
  /** The statements, run on the connection as they are called: no waiting, no locking. */
  readonly statements: MetadataTransaction;
  begin(): void;
  commit(): void;
  /** Undoes what the open transaction wrote; harmless when the backend already gave up on it. */
  rollback(): void;
  close(): void;
}

/**
 * The MetadataStore contract over one connection. A transaction's body is async, so on a shared
 * connection any other caller's statement could run while it is open and become part of it
 * (and be rolled back with it): while a transaction is open, every call from outside waits
 * until it ends, and transactions run one at a time. With none open (nearly always), a call
 * runs its statement at once: a warm manifest GET pays no lock and no extra tick.
 */
export class SerializedMetadataStore implements MetadataStore {
  readonly #connection: SingleConnection;
  readonly #statements: MetadataTransaction;
  /** Settles when the open transaction ends; never rejects. */
  #open: Promise<void> | undefined;

  constructor(connection: SingleConnection) {
    this.#connection = connection;
    this.#statements = connection.statements;
  }

  #outside<T>(call: () => Promise<T>): Promise<T> {
    if (this.#open === undefined) return call();
    return this.#open.then(() => this.#outside(call));
  }

  async transaction<T>(work: (tx: MetadataTransaction) => Promise<T>): Promise<T> {
    while (this.#open !== undefined) await this.#open;
    let ended = () => {};
    this.#open = new Promise<void>((resolve) => {
      ended = resolve;
    });
    let open = true;
    try {
      this.#connection.begin();
      try {
        const result = await work(whileOpen(this.#statements, () => open));
        this.#connection.commit();
        return result;
      } catch (error) {
        this.#connection.rollback();
        throw error;
      }
    } finally {
      open = false;
      this.#open = undefined;
      ended();
    }
  }

  close(): Promise<void> {
    return this.#outside(async () => this.#connection.close());
  }

  getManifest(repo: string, name: string, digest: string): Promise<ManifestRecord | undefined> {
    return this.#outside(() => this.#statements.getManifest(repo, name, digest));
  }

  putManifest(repo: string, name: string, manifest: NewManifest): Promise<void> {
    return this.#outside(() => this.#statements.putManifest(repo, name, manifest));
  }

  deleteManifest(repo: string, name: string, digest: string): Promise<boolean> {
    return this.#outside(() => this.#statements.deleteManifest(repo, name, digest));
  }

  hasName(repo: string, name: string): Promise<boolean> {
    return this.#outside(() => this.#statements.hasName(repo, name));
  }

  listReferrers(repo: string, name: string, digest: string): Promise<ManifestRecord[]> {
    return this.#outside(() => this.#statements.listReferrers(repo, name, digest));
  }

  getTag(repo: string, name: string, tag: string): Promise<TagRecord | undefined> {
    return this.#outside(() => this.#statements.getTag(repo, name, tag));
  }

  setTag(repo: string, name: string, tag: string, digest: string, now: number): Promise<void> {
    return this.#outside(() => this.#statements.setTag(repo, name, tag, digest, now));
  }

  markTagValidated(repo: string, name: string, tag: string, now: number): Promise<void> {
    return this.#outside(() => this.#statements.markTagValidated(repo, name, tag, now));
  }

  deleteTag(repo: string, name: string, tag: string): Promise<boolean> {
    return this.#outside(() => this.#statements.deleteTag(repo, name, tag));
  }

  listTags(repo: string, name: string, page?: Page): Promise<{ tags: string[]; more: boolean }> {
    return this.#outside(() => this.#statements.listTags(repo, name, page));
  }

  hasBlob(repo: string, name: string, digest: string): Promise<boolean> {
    return this.#outside(() => this.#statements.hasBlob(repo, name, digest));
  }

  linkBlob(repo: string, name: string, digest: string, size: number): Promise<void> {
    return this.#outside(() => this.#statements.linkBlob(repo, name, digest, size));
  }

  unlinkBlob(repo: string, name: string, digest: string): Promise<boolean> {
    return this.#outside(() => this.#statements.unlinkBlob(repo, name, digest));
  }

  listNames(repo: string, page?: Page): Promise<{ names: string[]; more: boolean }> {
    return this.#outside(() => this.#statements.listNames(repo, page));
  }

  createUpload(upload: UploadRecord): Promise<void> {
    return this.#outside(() => this.#statements.createUpload(upload));
  }

  getUpload(id: string): Promise<UploadRecord | undefined> {
    return this.#outside(() => this.#statements.getUpload(id));
  }

  setUploadOffset(id: string, offset: number, now: number): Promise<void> {
    return this.#outside(() => this.#statements.setUploadOffset(id, offset, now));
  }

  deleteUpload(id: string): Promise<void> {
    return this.#outside(() => this.#statements.deleteUpload(id));
  }

  listIdleUploads(before: number): Promise<UploadRecord[]> {
    return this.#outside(() => this.#statements.listIdleUploads(before));
  }

  listManifestNodes(repo: string): Promise<ManifestNode[]> {
    return this.#outside(() => this.#statements.listManifestNodes(repo));
  }

  listAllTags(repo: string): Promise<Array<{ name: string; tag: string; digest: string }>> {
    return this.#outside(() => this.#statements.listAllTags(repo));
  }

  listRepositories(): Promise<string[]> {
    return this.#outside(() => this.#statements.listRepositories());
  }

  listBlobLinks(): Promise<BlobLink[]> {
    return this.#outside(() => this.#statements.listBlobLinks());
  }

  recordUsage(batch: UsageBatch): Promise<void> {
    return this.#outside(() => this.#statements.recordUsage(batch));
  }

  listContent(repo: string, span?: NameSpan): Promise<RepositoryContent> {
    return this.#outside(() => this.#statements.listContent(repo, span));
  }

  measureContent(): Promise<ContentBytes> {
    return this.#outside(() => this.#statements.measureContent());
  }

  isReferenced(digest: string): Promise<boolean> {
    return this.#outside(() => this.#statements.isReferenced(digest));
  }

  forgetDigest(
    digest: string,
  ): Promise<{ links: BlobLink[]; manifests: Array<{ repo: string; name: string }> }> {
    return this.#outside(() => this.#statements.forgetDigest(digest));
  }

  recordSamples(samples: readonly SeriesSample[]): Promise<void> {
    return this.#outside(() => this.#statements.recordSamples(samples));
  }

  listSamples(resolution: SeriesResolution, since: number): Promise<SeriesSample[]> {
    return this.#outside(() => this.#statements.listSamples(resolution, since));
  }

  trimSamples(minutesBefore: number, hoursBefore: number): Promise<void> {
    return this.#outside(() => this.#statements.trimSamples(minutesBefore, hoursBefore));
  }

  appendActivity(events: readonly NewActivity[]): Promise<void> {
    return this.#outside(() => this.#statements.appendActivity(events));
  }

  listActivity(query: { limit: number; before?: number; repo?: string }): Promise<ActivityRecord[]> {
    return this.#outside(() => this.#statements.listActivity(query));
  }

  trimActivity(keep: number): Promise<void> {
    return this.#outside(() => this.#statements.trimActivity(keep));
  }
}
