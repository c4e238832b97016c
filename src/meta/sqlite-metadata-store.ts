import type Database from "better-sqlite3";
import { type ManifestRow, toManifest, toUpload, type UploadRow } from "./metadata-rows.js";
import type {
  BlobLink,
  ContentBytes,
  ManifestNode,
  ManifestRecord,
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
import { SerializedMetadataStore } from "./serialized-store.js";
import {
  BackgroundContentReader,
  type ChildRow,
  ContentStatements,
  childrenOf,
  contentFrom,
} from "./sqlite-content.js";
import { openSqlite } from "./sqlite-migrations.js";
import { OPS_RECORDS_MIGRATION, SqliteOpsRecords } from "./sqlite-ops-records.js";

/**
 * The embedded metadata store. Schema (one row per fact, `repo` + `name` scoping everything):
 *
 *   manifests     (repo, name, digest) → media_type, size, subject, artifact_type, annotations,
 *                                         pulls, last_pulled_at
 *   manifest_refs (repo, name, digest, child)   what a manifest needs: blobs and child manifests
 *   tags          (repo, name, tag) → digest, updated_at, validated_at, pulls, last_pulled_at
 *   blobs         (repo, name, digest) → size, last_served_at   which repository may serve which blob
 *   uploads       id → repo, name, offset       blob uploads in progress
 *   series_*, activity                          the operator's records (sqlite-ops-records.ts)
 *
 * Migrations run by `openSqlite` (numbered by `PRAGMA user_version`); statements are prepared
 * once. One connection serves every caller: SerializedMetadataStore keeps them out of an open
 * transaction.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE manifests (
     repo TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL,
     media_type TEXT NOT NULL, size INTEGER NOT NULL,
     subject TEXT, artifact_type TEXT, annotations TEXT,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (repo, name, digest)
   ) WITHOUT ROWID;
   CREATE INDEX manifests_by_subject ON manifests (repo, name, subject) WHERE subject IS NOT NULL;
   CREATE TABLE manifest_refs (
     repo TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL, child TEXT NOT NULL,
     PRIMARY KEY (repo, name, digest, child)
   ) WITHOUT ROWID;
   CREATE INDEX manifest_refs_by_child ON manifest_refs (child);
   CREATE TABLE tags (
     repo TEXT NOT NULL, name TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL,
     updated_at INTEGER NOT NULL, validated_at INTEGER NOT NULL,
     PRIMARY KEY (repo, name, tag)
   ) WITHOUT ROWID;
   CREATE INDEX tags_by_digest ON tags (repo, name, digest);
   CREATE TABLE blobs (
     repo TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (repo, name, digest)
   ) WITHOUT ROWID;
   CREATE INDEX blobs_by_digest ON blobs (digest);`,
  `CREATE TABLE uploads (
     id TEXT PRIMARY KEY, repo TEXT NOT NULL, name TEXT NOT NULL, offset INTEGER NOT NULL,
     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
   );
   CREATE INDEX uploads_by_update ON uploads (updated_at);`,
  // Usage lives on the rows it describes, so it goes with them when they are evicted or deleted.
  // Adding a column with a constant default rewrites nothing, however large the tables.
  `ALTER TABLE manifests ADD COLUMN pulls INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE manifests ADD COLUMN last_pulled_at INTEGER;
   ALTER TABLE tags ADD COLUMN pulls INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE tags ADD COLUMN last_pulled_at INTEGER;
   ALTER TABLE blobs ADD COLUMN last_served_at INTEGER;
   CREATE INDEX manifests_by_digest ON manifests (digest);`,
  OPS_RECORDS_MIGRATION,
  // What the content weighs, kept as rows come and go, so that measuring the store (the cache
  // keeper, every minute and at start-up) reads a row per repository instead of every blob.
  // content_held counts the rows (links and manifests) holding each digest in a repository,
  // content_files those holding it anywhere; a digest's size counts once in each.
  `CREATE TABLE content_held (
     repo TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL, rows INTEGER NOT NULL,
     PRIMARY KEY (repo, digest)
   ) WITHOUT ROWID;
   CREATE TABLE content_files (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, rows INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE content_bytes (repo TEXT PRIMARY KEY, bytes INTEGER NOT NULL, digests INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE content_total (id INTEGER PRIMARY KEY CHECK (id = 0), bytes INTEGER NOT NULL);
   INSERT INTO content_held (repo, digest, size, rows)
     SELECT repo, digest, MAX(size), COUNT(*) FROM
       (SELECT repo, digest, size FROM blobs UNION ALL SELECT repo, digest, size FROM manifests)
     GROUP BY repo, digest;
   INSERT INTO content_files (digest, size, rows)
     SELECT digest, MAX(size), SUM(rows) FROM content_held GROUP BY digest;
   INSERT INTO content_bytes (repo, bytes, digests)
     SELECT repo, SUM(size), COUNT(*) FROM content_held GROUP BY repo;
   INSERT INTO content_total (id, bytes) SELECT 0, COALESCE(SUM(size), 0) FROM content_files;
   ${["blobs", "manifests"].map(heldBy).join("\n")}`,
];

/** The triggers that keep content_* right as rows of `table` (blobs or manifests) come and go. */
function heldBy(table: string): string {
  return `CREATE TRIGGER ${table}_held AFTER INSERT ON ${table} BEGIN
     INSERT INTO content_bytes (repo, bytes, digests)
       SELECT NEW.repo, NEW.size, 1
       WHERE NOT EXISTS (SELECT 1 FROM content_held WHERE repo = NEW.repo AND digest = NEW.digest)
       ON CONFLICT (repo) DO UPDATE SET bytes = bytes + excluded.bytes, digests = digests + 1;
     INSERT INTO content_held (repo, digest, size, rows) VALUES (NEW.repo, NEW.digest, NEW.size, 1)
       ON CONFLICT (repo, digest) DO UPDATE SET rows = rows + 1;
     UPDATE content_total SET bytes = bytes + NEW.size
       WHERE NOT EXISTS (SELECT 1 FROM content_files WHERE digest = NEW.digest);
     INSERT INTO content_files (digest, size, rows) VALUES (NEW.digest, NEW.size, 1)
       ON CONFLICT (digest) DO UPDATE SET rows = rows + 1;
   END;
   CREATE TRIGGER ${table}_released AFTER DELETE ON ${table} BEGIN
     UPDATE content_held SET rows = rows - 1 WHERE repo = OLD.repo AND digest = OLD.digest;
     UPDATE content_bytes SET
         bytes = bytes - (SELECT size FROM content_held WHERE repo = OLD.repo AND digest = OLD.digest),
         digests = digests - 1
       WHERE repo = OLD.repo
         AND (SELECT rows FROM content_held WHERE repo = OLD.repo AND digest = OLD.digest) = 0;
     DELETE FROM content_held WHERE repo = OLD.repo AND digest = OLD.digest AND rows = 0;
     DELETE FROM content_bytes WHERE repo = OLD.repo AND digests = 0;
     UPDATE content_files SET rows = rows - 1 WHERE digest = OLD.digest;
     UPDATE content_total SET bytes = bytes - (SELECT size FROM content_files WHERE digest = OLD.digest)
       WHERE (SELECT rows FROM content_files WHERE digest = OLD.digest) = 0;
     DELETE FROM content_files WHERE digest = OLD.digest AND rows = 0;
   END;`;
}

/** Page size when a client gives no `n`: large enough for any real tag list, small enough to bound memory. */
const DEFAULT_PAGE = 10_000;

/** `path` is a file, or `:memory:` for tests. */
export class SqliteMetadataStore extends SerializedMetadataStore {
  /**
   * SQLite's `data_version`: it moves whenever another connection (a CLI command beside the
   * server) committed to the database, never for this connection's own writes. Caches ask it to
   * see outside changes (a few microseconds, so they ask at most once a millisecond).
   */
  readonly dataVersion: () => number;
  /** Whole repositories are read beside the request path, on a connection of their own. */
  readonly #contentReader: BackgroundContentReader | undefined;

  constructor(path: string) {
    const db = openSqlite(path, MIGRATIONS);
    // WAL with synchronous=NORMAL survives process crashes; only an OS crash can lose the last commits.
    db.pragma("synchronous = NORMAL");
    super({
      statements: new MetadataStatements(db),
      // IMMEDIATE takes the write lock at BEGIN (waiting up to the busy timeout while a CLI
      // command beside the server holds it), so no write after a read inside the transaction
      // can fail on a stale snapshot halfway through.
      begin: () => db.exec("BEGIN IMMEDIATE"),
      commit: () => db.exec("COMMIT"),
      rollback: () => {
        if (db.inTransaction) db.exec("ROLLBACK");
      },
      close: () => db.close(),
    });
    const version = db.prepare<[], number>("PRAGMA data_version").pluck();
    this.dataVersion = () => (db.open ? (version.get() as number) : 0);
    // An in-memory database has no file another connection could read.
    this.#contentReader = path === ":memory:" ? undefined : new BackgroundContentReader(path);
  }

  override listContent(repo: string, span: NameSpan = {}): Promise<RepositoryContent> {
    return this.#contentReader ? this.#contentReader.listContent(repo, span) : super.listContent(repo, span);
  }

  override close(): Promise<void> {
    this.#contentReader?.close();
    return super.close();
  }
}

/** The schema's statements on one connection, run as they are called. */
class MetadataStatements extends ForwardedOpsRecords implements MetadataTransaction {
  readonly #getManifest: Database.Statement<[string, string, string], ManifestRow>;
  readonly #insertManifest: Database.Statement<unknown[]>;
  readonly #insertRef: Database.Statement<[string, string, string, string]>;
  readonly #deleteManifest: Database.Statement<[string, string, string]>;
  readonly #deleteRefs: Database.Statement<[string, string, string]>;
  readonly #deleteTagsOf: Database.Statement<[string, string, string]>;
  readonly #hasName: Database.Statement<[string, string, string, string, string, string], { one: number }>;
  readonly #referrers: Database.Statement<[string, string, string], ManifestRow>;
  readonly #getTag: Database.Statement<
    [string, string, string],
    { digest: string; updated_at: number; validated_at: number }
  >;
  readonly #setTag: Database.Statement<[string, string, string, string, number, number]>;
  readonly #validateTag: Database.Statement<[number, string, string, string]>;
  readonly #deleteTag: Database.Statement<[string, string, string]>;
  readonly #listTags: Database.Statement<[string, string, string, number], { tag: string }>;
  readonly #hasBlob: Database.Statement<[string, string, string], { one: number }>;
  readonly #linkBlob: Database.Statement<[string, string, string, number, number]>;
  readonly #unlinkBlob: Database.Statement<[string, string, string]>;
  readonly #listNames: Database.Statement<[{ repo: string; last: string; limit: number }], { name: string }>;
  readonly #insertUpload: Database.Statement<[string, string, string, number, number, number]>;
  readonly #getUpload: Database.Statement<[string], UploadRow>;
  readonly #setUploadOffset: Database.Statement<[number, number, string]>;
  readonly #deleteUpload: Database.Statement<[string]>;
  readonly #idleUploads: Database.Statement<[number], UploadRow>;
  readonly #manifestNodes: Database.Statement<
    [string],
    { name: string; digest: string; subject: string | null }
  >;
  readonly #allTags: Database.Statement<[string], { name: string; tag: string; digest: string }>;
  readonly #repositories: Database.Statement<[], { repo: string }>;
  readonly #blobLinks: Database.Statement<
    [],
    { repo: string; name: string; digest: string; created_at: number }
  >;
  readonly #manifestPulled: Database.Statement<[number, number, string, string, string]>;
  readonly #tagPulled: Database.Statement<[number, number, string, string, string]>;
  readonly #blobServed: Database.Statement<[number, string, string, string]>;
  readonly #recordUsageTx: (batch: UsageBatch) => void;
  readonly #content: ContentStatements;
  readonly #bytesByRepo: Database.Statement<[], { repo: string; bytes: number }>;
  readonly #bytesTotal: Database.Statement<[], { bytes: number | null }>;
  readonly #referenced: Database.Statement<[string, string, string], { one: number }>;
  readonly #linksTo: Database.Statement<
    [string],
    { repo: string; name: string; digest: string; created_at: number }
  >;
  readonly #manifestsOf: Database.Statement<[string], { repo: string; name: string }>;
  readonly #unlinkAll: Database.Statement<[string]>;
  readonly #forgetTx: (digest: string) => {
    links: BlobLink[];
    manifests: Array<{ repo: string; name: string }>;
  };
  readonly #putManifestTx: (repo: string, name: string, manifest: NewManifest, now: number) => void;
  readonly #deleteManifestTx: (repo: string, name: string, digest: string) => boolean;
  protected readonly opsRecords: SqliteOpsRecords;

  constructor(db: Database.Database) {
    super();
    this.opsRecords = new SqliteOpsRecords(db);
    this.#getManifest = db.prepare(
      "SELECT digest, media_type, size, subject, artifact_type, annotations, created_at FROM manifests WHERE repo = ? AND name = ? AND digest = ?",
    );
    this.#insertManifest = db.prepare(
      `INSERT OR IGNORE INTO manifests (repo, name, digest, media_type, size, subject, artifact_type, annotations, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#insertRef = db.prepare(
      "INSERT OR IGNORE INTO manifest_refs (repo, name, digest, child) VALUES (?, ?, ?, ?)",
    );
    this.#deleteManifest = db.prepare("DELETE FROM manifests WHERE repo = ? AND name = ? AND digest = ?");
    this.#deleteRefs = db.prepare("DELETE FROM manifest_refs WHERE repo = ? AND name = ? AND digest = ?");
    this.#deleteTagsOf = db.prepare("DELETE FROM tags WHERE repo = ? AND name = ? AND digest = ?");
    this.#hasName = db.prepare(
      `SELECT 1 AS one WHERE EXISTS (SELECT 1 FROM manifests WHERE repo = ? AND name = ?)
         OR EXISTS (SELECT 1 FROM tags WHERE repo = ? AND name = ?)
         OR EXISTS (SELECT 1 FROM blobs WHERE repo = ? AND name = ?)`,
    );
    this.#referrers = db.prepare(
      `SELECT digest, media_type, size, subject, artifact_type, annotations, created_at FROM manifests
       WHERE repo = ? AND name = ? AND subject = ? ORDER BY digest`,
    );
    this.#getTag = db.prepare(
      "SELECT digest, updated_at, validated_at FROM tags WHERE repo = ? AND name = ? AND tag = ?",
    );
    this.#setTag = db.prepare(
      `INSERT INTO tags (repo, name, tag, digest, updated_at, validated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (repo, name, tag) DO UPDATE SET
         updated_at = CASE WHEN digest = excluded.digest THEN updated_at ELSE excluded.updated_at END,
         digest = excluded.digest, validated_at = excluded.validated_at`,
    );
    this.#validateTag = db.prepare(
      "UPDATE tags SET validated_at = ? WHERE repo = ? AND name = ? AND tag = ?",
    );
    this.#deleteTag = db.prepare("DELETE FROM tags WHERE repo = ? AND name = ? AND tag = ?");
    this.#listTags = db.prepare(
      "SELECT tag FROM tags WHERE repo = ? AND name = ? AND tag > ? ORDER BY tag LIMIT ?",
    );
    this.#hasBlob = db.prepare("SELECT 1 AS one FROM blobs WHERE repo = ? AND name = ? AND digest = ?");
    this.#linkBlob = db.prepare(
      "INSERT OR IGNORE INTO blobs (repo, name, digest, size, created_at) VALUES (?, ?, ?, ?, ?)",
    );
    this.#unlinkBlob = db.prepare("DELETE FROM blobs WHERE repo = ? AND name = ? AND digest = ?");
    // From one name to the next by an index seek each (a skip scan), so a page costs its length,
    // not the number of manifests under the names it passes: DISTINCT read every one of them.
    this.#listNames = db.prepare(
      `WITH RECURSIVE page(name) AS (
         SELECT (SELECT MIN(name) FROM manifests WHERE repo = @repo AND name > @last)
         UNION ALL
         SELECT (SELECT MIN(name) FROM manifests WHERE repo = @repo AND name > page.name)
         FROM page WHERE page.name IS NOT NULL
         LIMIT @limit
       )
       SELECT name FROM page WHERE name IS NOT NULL`,
    );
    this.#insertUpload = db.prepare(
      "INSERT INTO uploads (id, repo, name, offset, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#getUpload = db.prepare(
      "SELECT id, repo, name, offset, created_at, updated_at FROM uploads WHERE id = ?",
    );
    this.#setUploadOffset = db.prepare("UPDATE uploads SET offset = ?, updated_at = ? WHERE id = ?");
    this.#deleteUpload = db.prepare("DELETE FROM uploads WHERE id = ?");
    this.#idleUploads = db.prepare(
      "SELECT id, repo, name, offset, created_at, updated_at FROM uploads WHERE updated_at < ? ORDER BY updated_at",
    );
    this.#manifestNodes = db.prepare("SELECT name, digest, subject FROM manifests WHERE repo = ?");
    this.#allTags = db.prepare("SELECT name, tag, digest FROM tags WHERE repo = ? ORDER BY name, tag");
    this.#repositories = db.prepare(
      `SELECT repo FROM manifests UNION SELECT repo FROM tags UNION SELECT repo FROM blobs ORDER BY repo`,
    );
    this.#blobLinks = db.prepare("SELECT repo, name, digest, created_at FROM blobs ORDER BY digest");
    // Pull counts add up; a last-pulled time never moves back (batches may carry older times).
    this.#manifestPulled = db.prepare(
      `UPDATE manifests SET pulls = pulls + ?, last_pulled_at = MAX(COALESCE(last_pulled_at, 0), ?)
       WHERE repo = ? AND name = ? AND digest = ?`,
    );
    this.#tagPulled = db.prepare(
      `UPDATE tags SET pulls = pulls + ?, last_pulled_at = MAX(COALESCE(last_pulled_at, 0), ?)
       WHERE repo = ? AND name = ? AND tag = ?`,
    );
    this.#blobServed = db.prepare(
      `UPDATE blobs SET last_served_at = MAX(COALESCE(last_served_at, 0), ?)
       WHERE repo = ? AND name = ? AND digest = ?`,
    );
    this.#recordUsageTx = db.transaction((batch: UsageBatch) => {
      for (const m of batch.manifests) this.#manifestPulled.run(m.pulls, m.at, m.repo, m.name, m.digest);
      for (const t of batch.tags) this.#tagPulled.run(t.pulls, t.at, t.repo, t.name, t.tag);
      for (const b of batch.blobs) this.#blobServed.run(b.at, b.repo, b.name, b.digest);
    });
    this.#content = new ContentStatements(db);
    // Each digest once per repository (a name's copy and another name's are one file), then
    // overall: kept by the content_* triggers, so this reads a row per repository.
    this.#bytesByRepo = db.prepare("SELECT repo, bytes FROM content_bytes ORDER BY repo");
    this.#bytesTotal = db.prepare("SELECT bytes FROM content_total WHERE id = 0");
    this.#referenced = db.prepare(
      `SELECT 1 AS one WHERE EXISTS (SELECT 1 FROM blobs WHERE digest = ?)
         OR EXISTS (SELECT 1 FROM manifests WHERE digest = ?)
         OR EXISTS (SELECT 1 FROM manifest_refs WHERE child = ?)`,
    );
    this.#linksTo = db.prepare(
      "SELECT repo, name, digest, created_at FROM blobs WHERE digest = ? ORDER BY repo, name",
    );
    this.#manifestsOf = db.prepare("SELECT repo, name FROM manifests WHERE digest = ? ORDER BY repo, name");
    this.#unlinkAll = db.prepare("DELETE FROM blobs WHERE digest = ?");
    this.#forgetTx = db.transaction((digest: string) => {
      const links = this.#linksTo
        .all(digest)
        .map((row) => ({ repo: row.repo, name: row.name, digest: row.digest, createdAt: row.created_at }));
      const manifests = this.#manifestsOf.all(digest);
      this.#unlinkAll.run(digest);
      for (const { repo, name } of manifests) this.#deleteManifestTx(repo, name, digest);
      return { links, manifests };
    });
    this.#putManifestTx = db.transaction((repo: string, name: string, manifest: NewManifest, now: number) => {
      this.#insertManifest.run(
        repo,
        name,
        manifest.digest,
        manifest.mediaType,
        manifest.size,
        manifest.subject ?? null,
        manifest.artifactType ?? null,
        manifest.annotations ? JSON.stringify(manifest.annotations) : null,
        now,
      );
      for (const child of manifest.references) this.#insertRef.run(repo, name, manifest.digest, child);
    });
    this.#deleteManifestTx = db.transaction((repo: string, name: string, digest: string) => {
      const removed = this.#deleteManifest.run(repo, name, digest).changes > 0;
      this.#deleteRefs.run(repo, name, digest);
      this.#deleteTagsOf.run(repo, name, digest);
      return removed;
    });
  }

  async getManifest(repo: string, name: string, digest: string): Promise<ManifestRecord | undefined> {
    const row = this.#getManifest.get(repo, name, digest);
    return row ? toManifest(row) : undefined;
  }

  async putManifest(repo: string, name: string, manifest: NewManifest): Promise<void> {
    this.#putManifestTx(repo, name, manifest, Date.now());
  }

  async deleteManifest(repo: string, name: string, digest: string): Promise<boolean> {
    return this.#deleteManifestTx(repo, name, digest);
  }

  async hasName(repo: string, name: string): Promise<boolean> {
    return this.#hasName.get(repo, name, repo, name, repo, name) !== undefined;
  }

  async listReferrers(repo: string, name: string, digest: string): Promise<ManifestRecord[]> {
    return this.#referrers.all(repo, name, digest).map(toManifest);
  }

  async getTag(repo: string, name: string, tag: string): Promise<TagRecord | undefined> {
    const row = this.#getTag.get(repo, name, tag);
    return row ? { digest: row.digest, updatedAt: row.updated_at, validatedAt: row.validated_at } : undefined;
  }

  async setTag(repo: string, name: string, tag: string, digest: string, now: number): Promise<void> {
    this.#setTag.run(repo, name, tag, digest, now, now);
  }

  async markTagValidated(repo: string, name: string, tag: string, now: number): Promise<void> {
    this.#validateTag.run(now, repo, name, tag);
  }

  async deleteTag(repo: string, name: string, tag: string): Promise<boolean> {
    return this.#deleteTag.run(repo, name, tag).changes > 0;
  }

  async listTags(repo: string, name: string, page: Page = {}): Promise<{ tags: string[]; more: boolean }> {
    const limit = page.limit ?? DEFAULT_PAGE;
    const rows = this.#listTags.all(repo, name, page.last ?? "", limit + 1);
    return { tags: rows.slice(0, limit).map((row) => row.tag), more: rows.length > limit };
  }

  async hasBlob(repo: string, name: string, digest: string): Promise<boolean> {
    return this.#hasBlob.get(repo, name, digest) !== undefined;
  }

  async linkBlob(repo: string, name: string, digest: string, size: number): Promise<void> {
    this.#linkBlob.run(repo, name, digest, size, Date.now());
  }

  async unlinkBlob(repo: string, name: string, digest: string): Promise<boolean> {
    return this.#unlinkBlob.run(repo, name, digest).changes > 0;
  }

  async listNames(repo: string, page: Page = {}): Promise<{ names: string[]; more: boolean }> {
    const limit = page.limit ?? DEFAULT_PAGE;
    const rows = this.#listNames.all({ repo, last: page.last ?? "", limit: limit + 1 });
    return { names: rows.slice(0, limit).map((row) => row.name), more: rows.length > limit };
  }

  async createUpload(upload: UploadRecord): Promise<void> {
    this.#insertUpload.run(
      upload.id,
      upload.repo,
      upload.name,
      upload.offset,
      upload.createdAt,
      upload.updatedAt,
    );
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    const row = this.#getUpload.get(id);
    return row ? toUpload(row) : undefined;
  }

  async setUploadOffset(id: string, offset: number, now: number): Promise<void> {
    this.#setUploadOffset.run(offset, now, id);
  }

  async deleteUpload(id: string): Promise<void> {
    this.#deleteUpload.run(id);
  }

  async listIdleUploads(before: number): Promise<UploadRecord[]> {
    return this.#idleUploads.all(before).map(toUpload);
  }

  async listManifestNodes(repo: string): Promise<ManifestNode[]> {
    const { statement, params } = this.#content.for("children", repo, {});
    const children = childrenOf(statement.all(...params) as ChildRow[]);
    return this.#manifestNodes.all(repo).map((row) => ({
      name: row.name,
      digest: row.digest,
      children: children.get(`${row.name}@${row.digest}`) ?? [],
      ...(row.subject === null ? {} : { subject: row.subject }),
    }));
  }

  async listAllTags(repo: string): Promise<Array<{ name: string; tag: string; digest: string }>> {
    return this.#allTags.all(repo);
  }

  async listRepositories(): Promise<string[]> {
    return this.#repositories.all().map((row) => row.repo);
  }

  async listBlobLinks(): Promise<BlobLink[]> {
    return this.#blobLinks
      .all()
      .map((row) => ({ repo: row.repo, name: row.name, digest: row.digest, createdAt: row.created_at }));
  }

  async recordUsage(batch: UsageBatch): Promise<void> {
    this.#recordUsageTx(batch);
  }

  async listContent(repo: string, span: NameSpan = {}): Promise<RepositoryContent> {
    return contentFrom(this.#content.all(repo, span));
  }

  async measureContent(): Promise<ContentBytes> {
    const repositories: Record<string, number> = {};
    for (const row of this.#bytesByRepo.all()) repositories[row.repo] = row.bytes;
    return { total: this.#bytesTotal.get()?.bytes ?? 0, repositories };
  }

  async isReferenced(digest: string): Promise<boolean> {
    return this.#referenced.get(digest, digest, digest) !== undefined;
  }

  async forgetDigest(
    digest: string,
  ): Promise<{ links: BlobLink[]; manifests: Array<{ repo: string; name: string }> }> {
    return this.#forgetTx(digest);
  }
}
