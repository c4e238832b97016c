import type pg from "pg";
import {
  type BlobEntryRow,
  blobEntry,
  type ManifestEntryRow,
  type ManifestRow,
  manifestEntry,
  type TagEntryRow,
  tagEntry,
  toManifest,
  toUpload,
  type UploadRow,
} from "./metadata-rows.js";
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
import { migratePostgres } from "./postgres-migrations.js";
import { POSTGRES_OPS_RECORDS_MIGRATION, PostgresOpsRecords } from "./postgres-ops-records.js";
import { inTransaction, openPool, type PostgresOptions, type Queryable } from "./postgres-pool.js";
import { whileOpen } from "./transaction-handle.js";

/**
 * The schema of the SQLite store (`sqlite-metadata-store.ts`), in PostgreSQL's words. Names,
 * digests and tags compare bytewise (COLLATE "C"), as SQLite's do: listings come out in the same
 * order whatever the database's locale, and `name > $last` pages walk the primary keys. Every
 * request-path query is a primary-key or index lookup: manifests, tags and blob links by (repo,
 * name, …), referrers by the partial subject index, references by child, idle uploads by time;
 * what deletes files asks whether a digest is still needed through the by-digest indexes.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE manifests (
     repo TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL,
     media_type TEXT NOT NULL, size BIGINT NOT NULL,
     subject TEXT COLLATE "C", artifact_type TEXT, annotations TEXT,
     created_at BIGINT NOT NULL,
     PRIMARY KEY (repo, name, digest)
   );
   CREATE INDEX manifests_by_subject ON manifests (repo, name, subject) WHERE subject IS NOT NULL;
   CREATE TABLE manifest_refs (
     repo TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL,
     child TEXT COLLATE "C" NOT NULL,
     PRIMARY KEY (repo, name, digest, child)
   );
   CREATE INDEX manifest_refs_by_child ON manifest_refs (child);
   CREATE TABLE tags (
     repo TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, tag TEXT COLLATE "C" NOT NULL,
     digest TEXT COLLATE "C" NOT NULL, updated_at BIGINT NOT NULL, validated_at BIGINT NOT NULL,
     PRIMARY KEY (repo, name, tag)
   );
   CREATE INDEX tags_by_digest ON tags (repo, name, digest);
   CREATE TABLE blobs (
     repo TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, digest TEXT COLLATE "C" NOT NULL,
     size BIGINT NOT NULL, created_at BIGINT NOT NULL,
     PRIMARY KEY (repo, name, digest)
   );
   CREATE INDEX blobs_by_digest ON blobs (digest);
   CREATE TABLE uploads (
     id TEXT PRIMARY KEY, repo TEXT NOT NULL, name TEXT NOT NULL, received BIGINT NOT NULL,
     created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL
   );
   CREATE INDEX uploads_by_update ON uploads (updated_at);`,
  // Usage lives on the rows it describes, so it goes with them when they are evicted or deleted.
  // A column added with a constant default rewrites no table (PostgreSQL 11 and later).
  `ALTER TABLE manifests ADD COLUMN pulls BIGINT NOT NULL DEFAULT 0, ADD COLUMN last_pulled_at BIGINT;
   ALTER TABLE tags ADD COLUMN pulls BIGINT NOT NULL DEFAULT 0, ADD COLUMN last_pulled_at BIGINT;
   ALTER TABLE blobs ADD COLUMN last_served_at BIGINT;
   CREATE INDEX manifests_by_digest ON manifests (digest);`,
  POSTGRES_OPS_RECORDS_MIGRATION,
];

const MANIFEST_COLUMNS = "digest, media_type, size, subject, artifact_type, annotations, created_at";
const UPLOAD_COLUMNS = "id, repo, name, received, created_at, updated_at";
const UPLOAD_SELECTED = 'id, repo, name, received AS "offset", created_at, updated_at';

/** Each digest once per repository (a name's copy and another name's are one file). */
const FILES_BY_REPOSITORY = `SELECT repo, digest, max(size) AS size FROM
  (SELECT repo, digest, size FROM blobs UNION ALL SELECT repo, digest, size FROM manifests) AS files
  GROUP BY repo, digest`;

/** Page size when a client gives no `n`, as in SQLite. */
const DEFAULT_PAGE = 10_000;

/**
 * The schema's statements on whatever runs them: the pool (each call on any free connection) or a
 * transaction's client. Writes that touch several tables are one statement each (data-modifying
 * CTEs), so they are atomic outside a transaction too, in one round trip.
 */
class PostgresStatements extends ForwardedOpsRecords implements MetadataTransaction {
  readonly #db: Queryable;
  protected readonly opsRecords: PostgresOpsRecords;

  constructor(db: Queryable) {
    super();
    this.#db = db;
    this.opsRecords = new PostgresOpsRecords(db);
  }

  async #rows<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]): Promise<R[]> {
    return (await this.#db.query<R>({ name: `meta.${name}`, text, values })).rows;
  }

  async #count(name: string, text: string, values: unknown[]): Promise<number> {
    return (await this.#db.query({ name: `meta.${name}`, text, values })).rowCount ?? 0;
  }

  async getManifest(repo: string, name: string, digest: string): Promise<ManifestRecord | undefined> {
    const [row] = await this.#rows<ManifestRow>(
      "getManifest",
      `SELECT ${MANIFEST_COLUMNS} FROM manifests WHERE repo = $1 AND name = $2 AND digest = $3`,
      [repo, name, digest],
    );
    return row ? toManifest(row) : undefined;
  }

  async putManifest(repo: string, name: string, manifest: NewManifest): Promise<void> {
    await this.#rows(
      "putManifest",
      `WITH added AS (
         INSERT INTO manifests (repo, name, digest, media_type, size, subject, artifact_type, annotations, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING
       )
       INSERT INTO manifest_refs (repo, name, digest, child)
       SELECT DISTINCT $1, $2, $3, child FROM unnest($10::text[]) AS child
       ON CONFLICT DO NOTHING`,
      [
        repo,
        name,
        manifest.digest,
        manifest.mediaType,
        manifest.size,
        manifest.subject ?? null,
        manifest.artifactType ?? null,
        manifest.annotations ? JSON.stringify(manifest.annotations) : null,
        Date.now(),
        manifest.references,
      ],
    );
  }

  async deleteManifest(repo: string, name: string, digest: string): Promise<boolean> {
    const [row] = await this.#rows<{ removed: number }>(
      "deleteManifest",
      `WITH removed AS (DELETE FROM manifests WHERE repo = $1 AND name = $2 AND digest = $3 RETURNING 1),
            refs AS (DELETE FROM manifest_refs WHERE repo = $1 AND name = $2 AND digest = $3),
            tagged AS (DELETE FROM tags WHERE repo = $1 AND name = $2 AND digest = $3)
       SELECT count(*)::int AS removed FROM removed`,
      [repo, name, digest],
    );
    return (row?.removed ?? 0) > 0;
  }

  async hasName(repo: string, name: string): Promise<boolean> {
    const [row] = await this.#rows<{ known: boolean }>(
      "hasName",
      `SELECT EXISTS (SELECT 1 FROM manifests WHERE repo = $1 AND name = $2)
           OR EXISTS (SELECT 1 FROM tags WHERE repo = $1 AND name = $2)
           OR EXISTS (SELECT 1 FROM blobs WHERE repo = $1 AND name = $2) AS known`,
      [repo, name],
    );
    return row?.known === true;
  }

  async listReferrers(repo: string, name: string, digest: string): Promise<ManifestRecord[]> {
    const rows = await this.#rows<ManifestRow>(
      "listReferrers",
      `SELECT ${MANIFEST_COLUMNS} FROM manifests WHERE repo = $1 AND name = $2 AND subject = $3 ORDER BY digest`,
      [repo, name, digest],
    );
    return rows.map(toManifest);
  }

  async getTag(repo: string, name: string, tag: string): Promise<TagRecord | undefined> {
    const [row] = await this.#rows<{ digest: string; updated_at: number; validated_at: number }>(
      "getTag",
      "SELECT digest, updated_at, validated_at FROM tags WHERE repo = $1 AND name = $2 AND tag = $3",
      [repo, name, tag],
    );
    return row ? { digest: row.digest, updatedAt: row.updated_at, validatedAt: row.validated_at } : undefined;
  }

  async setTag(repo: string, name: string, tag: string, digest: string, now: number): Promise<void> {
    await this.#rows(
      "setTag",
      `INSERT INTO tags (repo, name, tag, digest, updated_at, validated_at) VALUES ($1, $2, $3, $4, $5, $5)
       ON CONFLICT (repo, name, tag) DO UPDATE SET
         updated_at = CASE WHEN tags.digest = excluded.digest THEN tags.updated_at ELSE excluded.updated_at END,
         digest = excluded.digest, validated_at = excluded.validated_at`,
      [repo, name, tag, digest, now],
    );
  }

  async markTagValidated(repo: string, name: string, tag: string, now: number): Promise<void> {
    await this.#rows(
      "markTagValidated",
      "UPDATE tags SET validated_at = $1 WHERE repo = $2 AND name = $3 AND tag = $4",
      [now, repo, name, tag],
    );
  }

  async deleteTag(repo: string, name: string, tag: string): Promise<boolean> {
    const removed = await this.#count(
      "deleteTag",
      "DELETE FROM tags WHERE repo = $1 AND name = $2 AND tag = $3",
      [repo, name, tag],
    );
    return removed > 0;
  }

  async listTags(repo: string, name: string, page: Page = {}): Promise<{ tags: string[]; more: boolean }> {
    const limit = page.limit ?? DEFAULT_PAGE;
    const rows = await this.#rows<{ tag: string }>(
      "listTags",
      "SELECT tag FROM tags WHERE repo = $1 AND name = $2 AND tag > $3 ORDER BY tag LIMIT $4",
      [repo, name, page.last ?? "", limit + 1],
    );
    return { tags: rows.slice(0, limit).map((row) => row.tag), more: rows.length > limit };
  }

  async hasBlob(repo: string, name: string, digest: string): Promise<boolean> {
    const rows = await this.#rows(
      "hasBlob",
      "SELECT 1 FROM blobs WHERE repo = $1 AND name = $2 AND digest = $3",
      [repo, name, digest],
    );
    return rows.length > 0;
  }

  async linkBlob(repo: string, name: string, digest: string, size: number): Promise<void> {
    await this.#rows(
      "linkBlob",
      `INSERT INTO blobs (repo, name, digest, size, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT DO NOTHING`,
      [repo, name, digest, size, Date.now()],
    );
  }

  async unlinkBlob(repo: string, name: string, digest: string): Promise<boolean> {
    const removed = await this.#count(
      "unlinkBlob",
      "DELETE FROM blobs WHERE repo = $1 AND name = $2 AND digest = $3",
      [repo, name, digest],
    );
    return removed > 0;
  }

  async listNames(repo: string, page: Page = {}): Promise<{ names: string[]; more: boolean }> {
    const limit = page.limit ?? DEFAULT_PAGE;
    const rows = await this.#rows<{ name: string }>(
      "listNames",
      "SELECT DISTINCT name FROM manifests WHERE repo = $1 AND name > $2 ORDER BY name LIMIT $3",
      [repo, page.last ?? "", limit + 1],
    );
    return { names: rows.slice(0, limit).map((row) => row.name), more: rows.length > limit };
  }

  async createUpload(upload: UploadRecord): Promise<void> {
    await this.#rows(
      "createUpload",
      `INSERT INTO uploads (${UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)`,
      [upload.id, upload.repo, upload.name, upload.offset, upload.createdAt, upload.updatedAt],
    );
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    const [row] = await this.#rows<UploadRow>(
      "getUpload",
      `SELECT ${UPLOAD_SELECTED} FROM uploads WHERE id = $1`,
      [id],
    );
    return row ? toUpload(row) : undefined;
  }

  async setUploadOffset(id: string, offset: number, now: number): Promise<void> {
    await this.#rows("setUploadOffset", "UPDATE uploads SET received = $1, updated_at = $2 WHERE id = $3", [
      offset,
      now,
      id,
    ]);
  }

  async deleteUpload(id: string): Promise<void> {
    await this.#rows("deleteUpload", "DELETE FROM uploads WHERE id = $1", [id]);
  }

  async listIdleUploads(before: number): Promise<UploadRecord[]> {
    const rows = await this.#rows<UploadRow>(
      "listIdleUploads",
      `SELECT ${UPLOAD_SELECTED} FROM uploads WHERE updated_at < $1 ORDER BY updated_at`,
      [before],
    );
    return rows.map(toUpload);
  }

  async listManifestNodes(repo: string): Promise<ManifestNode[]> {
    const rows = await this.#rows<{
      name: string;
      digest: string;
      subject: string | null;
      children: string[];
    }>(
      "listManifestNodes",
      `SELECT m.name, m.digest, m.subject,
              COALESCE(array_agg(r.child) FILTER (WHERE r.child IS NOT NULL), '{}') AS children
       FROM manifests m
       LEFT JOIN manifest_refs r ON r.repo = m.repo AND r.name = m.name AND r.digest = m.digest
       WHERE m.repo = $1
       GROUP BY m.name, m.digest, m.subject`,
      [repo],
    );
    return rows.map((row) => ({
      name: row.name,
      digest: row.digest,
      children: row.children,
      ...(row.subject === null ? {} : { subject: row.subject }),
    }));
  }

  async listAllTags(repo: string): Promise<Array<{ name: string; tag: string; digest: string }>> {
    return this.#rows(
      "listAllTags",
      "SELECT name, tag, digest FROM tags WHERE repo = $1 ORDER BY name, tag",
      [repo],
    );
  }

  async listRepositories(): Promise<string[]> {
    const rows = await this.#rows<{ repo: string }>(
      "listRepositories",
      "SELECT repo FROM manifests UNION SELECT repo FROM tags UNION SELECT repo FROM blobs ORDER BY repo",
      [],
    );
    return rows.map((row) => row.repo);
  }

  async recordUsage(batch: UsageBatch): Promise<void> {
    // One statement: the batch commits whole. Entries for one row add up before they are applied
    // (an UPDATE … FROM applies one match per row); a last-pulled time never moves back.
    await this.#rows(
      "recordUsage",
      `WITH manifest_use AS (
         SELECT repo, name, digest, sum(pulls) AS pulls, max(at) AS at
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u(repo, name, digest, pulls, at)
         GROUP BY repo, name, digest
       ), manifests_used AS (
         UPDATE manifests m SET pulls = m.pulls + u.pulls, last_pulled_at = greatest(coalesce(m.last_pulled_at, 0), u.at)
         FROM manifest_use u WHERE m.repo = u.repo AND m.name = u.name AND m.digest = u.digest
       ), tag_use AS (
         SELECT repo, name, tag, sum(pulls) AS pulls, max(at) AS at
         FROM unnest($6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[]) AS u(repo, name, tag, pulls, at)
         GROUP BY repo, name, tag
       ), tags_used AS (
         UPDATE tags t SET pulls = t.pulls + u.pulls, last_pulled_at = greatest(coalesce(t.last_pulled_at, 0), u.at)
         FROM tag_use u WHERE t.repo = u.repo AND t.name = u.name AND t.tag = u.tag
       ), blob_use AS (
         SELECT repo, name, digest, max(at) AS at
         FROM unnest($11::text[], $12::text[], $13::text[], $14::bigint[]) AS u(repo, name, digest, at)
         GROUP BY repo, name, digest
       )
       UPDATE blobs b SET last_served_at = greatest(coalesce(b.last_served_at, 0), u.at)
       FROM blob_use u WHERE b.repo = u.repo AND b.name = u.name AND b.digest = u.digest`,
      [
        batch.manifests.map((m) => m.repo),
        batch.manifests.map((m) => m.name),
        batch.manifests.map((m) => m.digest),
        batch.manifests.map((m) => m.pulls),
        batch.manifests.map((m) => m.at),
        batch.tags.map((t) => t.repo),
        batch.tags.map((t) => t.name),
        batch.tags.map((t) => t.tag),
        batch.tags.map((t) => t.pulls),
        batch.tags.map((t) => t.at),
        batch.blobs.map((b) => b.repo),
        batch.blobs.map((b) => b.name),
        batch.blobs.map((b) => b.digest),
        batch.blobs.map((b) => b.at),
      ],
    );
  }

  async listContent(repo: string, span: NameSpan = {}): Promise<RepositoryContent> {
    // A statement each for an open and a closed end: both keep to the (repo, name) index range.
    const closed = span.through !== undefined;
    const names = (column: string) => (closed ? `${column} > $2 AND ${column} <= $3` : `${column} > $2`);
    const values = closed ? [repo, span.after ?? "", span.through] : [repo, span.after ?? ""];
    const variant = closed ? "Closed" : "Open";
    const [manifests, tags, blobs] = await Promise.all([
      this.#rows<ManifestEntryRow & { children: string[] }>(
        `contentManifests${variant}`,
        `SELECT m.name, m.digest, m.subject, m.size, m.created_at, m.pulls, m.last_pulled_at,
                coalesce(array_agg(r.child) FILTER (WHERE r.child IS NOT NULL), '{}') AS children
         FROM manifests m
         LEFT JOIN manifest_refs r ON r.repo = m.repo AND r.name = m.name AND r.digest = m.digest
         WHERE m.repo = $1 AND ${names("m.name")}
         GROUP BY m.repo, m.name, m.digest`,
        values,
      ),
      this.#rows<TagEntryRow>(
        `contentTags${variant}`,
        `SELECT name, tag, digest, updated_at, pulls, last_pulled_at FROM tags WHERE repo = $1 AND ${names("name")}`,
        values,
      ),
      this.#rows<BlobEntryRow>(
        `contentBlobs${variant}`,
        `SELECT name, digest, size, created_at, last_served_at FROM blobs WHERE repo = $1 AND ${names("name")}`,
        values,
      ),
    ]);
    return {
      manifests: manifests.map((row) => manifestEntry(row, row.children)),
      tags: tags.map(tagEntry),
      blobs: blobs.map(blobEntry),
    };
  }

  async measureContent(): Promise<ContentBytes> {
    const rows = await this.#rows<{ repo: string | null; bytes: number }>(
      "measureContent",
      `WITH files AS (${FILES_BY_REPOSITORY})
       SELECT repo, sum(size)::bigint AS bytes FROM files GROUP BY repo
       UNION ALL
       SELECT NULL, coalesce(sum(size), 0)::bigint FROM (SELECT digest, max(size) AS size FROM files GROUP BY digest) AS once`,
      [],
    );
    const repositories: Record<string, number> = {};
    let total = 0;
    for (const row of rows) {
      if (row.repo === null) total = row.bytes;
      else repositories[row.repo] = row.bytes;
    }
    return { total, repositories };
  }

  async isReferenced(digest: string): Promise<boolean> {
    const [row] = await this.#rows<{ needed: boolean }>(
      "isReferenced",
      `SELECT EXISTS (SELECT 1 FROM blobs WHERE digest = $1)
           OR EXISTS (SELECT 1 FROM manifests WHERE digest = $1)
           OR EXISTS (SELECT 1 FROM manifest_refs WHERE child = $1) AS needed`,
      [digest],
    );
    return row?.needed === true;
  }

  async forgetDigest(
    digest: string,
  ): Promise<{ links: BlobLink[]; manifests: Array<{ repo: string; name: string }> }> {
    // One statement: the links, the manifests and what hangs on them (references, tags) go together.
    const rows = await this.#rows<{
      kind: "link" | "manifest";
      repo: string;
      name: string;
      created_at: number | null;
    }>(
      "forgetDigest",
      `WITH links AS (DELETE FROM blobs WHERE digest = $1 RETURNING repo, name, created_at),
            manifests_gone AS (DELETE FROM manifests WHERE digest = $1 RETURNING repo, name),
            refs AS (DELETE FROM manifest_refs r USING manifests_gone g
                     WHERE r.repo = g.repo AND r.name = g.name AND r.digest = $1),
            tagged AS (DELETE FROM tags t USING manifests_gone g
                       WHERE t.repo = g.repo AND t.name = g.name AND t.digest = $1)
       SELECT 'link' AS kind, repo, name, created_at FROM links
       UNION ALL
       SELECT 'manifest', repo, name, NULL FROM manifests_gone
       ORDER BY kind, repo, name`,
      [digest],
    );
    return {
      links: rows
        .filter((row) => row.kind === "link")
        .map((row) => ({ repo: row.repo, name: row.name, digest, createdAt: row.created_at ?? 0 })),
      manifests: rows
        .filter((row) => row.kind === "manifest")
        .map((row) => ({ repo: row.repo, name: row.name })),
    };
  }

  async listBlobLinks(): Promise<BlobLink[]> {
    const rows = await this.#rows<{ repo: string; name: string; digest: string; created_at: number }>(
      "listBlobLinks",
      "SELECT repo, name, digest, created_at FROM blobs ORDER BY digest",
      [],
    );
    return rows.map((row) => ({
      repo: row.repo,
      name: row.name,
      digest: row.digest,
      createdAt: row.created_at,
    }));
  }
}

/**
 * The metadata store of several nodes: PostgreSQL through a pool. A call outside a transaction runs
 * on any free connection; `transaction` checks one connection out for its whole body (BEGIN …
 * COMMIT, or ROLLBACK when the body throws), so other callers never wait for it and never land in it,
 * and hands the body a handle bound to that connection that refuses calls once it ended. Isolation is
 * PostgreSQL's default, READ COMMITTED, as the contract allows.
 */
export class PostgresMetadataStore extends PostgresStatements implements MetadataStore {
  readonly #pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    super(pool);
    this.#pool = pool;
  }

  /** Connects and migrates (several nodes may do so at once); rejects when the database cannot be reached. */
  static async open(options: PostgresOptions): Promise<PostgresMetadataStore> {
    const pool = openPool(options);
    try {
      await migratePostgres(pool, "metadata", MIGRATIONS);
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
    return new PostgresMetadataStore(pool);
  }

  transaction<T>(work: (tx: MetadataTransaction) => Promise<T>): Promise<T> {
    return inTransaction(this.#pool, async (client) => {
      let open = true;
      try {
        return await work(whileOpen(new PostgresStatements(client), () => open));
      } finally {
        open = false;
      }
    });
  }

  /** Ends the pool once the connections checked out (an open transaction) are back. */
  close(): Promise<void> {
    return this.#pool.end();
  }
}
