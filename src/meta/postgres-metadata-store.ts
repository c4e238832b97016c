import type pg from "pg";
import type {
  BlobLink,
  ManifestNode,
  ManifestRecord,
  MetadataStore,
  MetadataTransaction,
  NewManifest,
  Page,
  TagRecord,
  UploadRecord,
} from "./metadata-store.js";
import { migratePostgres } from "./postgres-migrations.js";
import { inTransaction, openPool, type PostgresOptions, type Queryable } from "./postgres-pool.js";
import { whileOpen } from "./transaction-handle.js";

/**
 * The schema of the SQLite store (`sqlite-metadata-store.ts`), in PostgreSQL's words. Names,
 * digests and tags compare bytewise (COLLATE "C"), as SQLite's do: listings come out in the same
 * order whatever the database's locale, and `name > $last` pages walk the primary keys. Every
 * request-path query is a primary-key or index lookup: manifests, tags and blob links by (repo,
 * name, …), referrers by the partial subject index, references by child, idle uploads by time.
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
];

interface ManifestRow {
  digest: string;
  media_type: string;
  size: number;
  subject: string | null;
  artifact_type: string | null;
  annotations: string | null;
  created_at: number;
}

interface UploadRow {
  id: string;
  repo: string;
  name: string;
  received: number;
  created_at: number;
  updated_at: number;
}

const MANIFEST_COLUMNS = "digest, media_type, size, subject, artifact_type, annotations, created_at";
const UPLOAD_COLUMNS = "id, repo, name, received, created_at, updated_at";

function toManifest(row: ManifestRow): ManifestRecord {
  return {
    digest: row.digest,
    mediaType: row.media_type,
    size: row.size,
    createdAt: row.created_at,
    ...(row.subject === null ? {} : { subject: row.subject }),
    ...(row.artifact_type === null ? {} : { artifactType: row.artifact_type }),
    ...(row.annotations === null
      ? {}
      : { annotations: JSON.parse(row.annotations) as Record<string, string> }),
  };
}

function toUpload(row: UploadRow): UploadRecord {
  return {
    id: row.id,
    repo: row.repo,
    name: row.name,
    offset: row.received,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Page size when a client gives no `n`, as in SQLite. */
const DEFAULT_PAGE = 10_000;

/**
 * The schema's statements on whatever runs them: the pool (each call on any free connection) or a
 * transaction's client. Writes that touch several tables are one statement each (data-modifying
 * CTEs), so they are atomic outside a transaction too, in one round trip.
 */
class PostgresStatements implements MetadataTransaction {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
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
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE id = $1`,
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
      `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE updated_at < $1 ORDER BY updated_at`,
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
