import { join } from "node:path";
import Database from "better-sqlite3";
import { columns, type MirroredTable, mirrorTable, type TableMirrored } from "../meta/mirror-tables.js";
import { openPool } from "../meta/postgres-pool.js";
import { createDigester, parseDigest } from "../oci/digest.js";
import type { BlobStore } from "../store/blob-store.js";
import { appendAll } from "../store/blob-writer.js";

/**
 * What moves from a single node's SQLite files into PostgreSQL, table by table (the PostgreSQL
 * schema is SQLite's; a few columns are renamed there). Upload sessions stay behind: their bytes are
 * in the single node's `uploads/`, and a client whose push was cut by the switch starts it again.
 */
const METADATA_TABLES: readonly MirroredTable[] = [
  {
    table: "manifests",
    columns: columns(
      "repo",
      "name",
      "digest",
      "media_type",
      "size",
      "subject",
      "artifact_type",
      "annotations",
      "created_at",
      "pulls",
      "last_pulled_at",
    ),
    key: ["repo", "name", "digest"],
  },
  {
    table: "manifest_refs",
    columns: columns("repo", "name", "digest", "child"),
    key: ["repo", "name", "digest", "child"],
  },
  {
    table: "tags",
    columns: columns(
      "repo",
      "name",
      "tag",
      "digest",
      "updated_at",
      "validated_at",
      "pulls",
      "last_pulled_at",
    ),
    key: ["repo", "name", "tag"],
  },
  {
    table: "blobs",
    columns: columns("repo", "name", "digest", "size", "created_at", "last_served_at"),
    key: ["repo", "name", "digest"],
  },
  ...(["series_minute", "series_hour"] as const).map((table) => ({
    table,
    columns: columns(
      "at",
      "repo",
      "hits",
      "misses",
      "bytes_served",
      "bytes_fetched",
      "budget_remaining",
      "budget_limit",
    ),
    key: ["at", "repo"],
  })),
  {
    table: "activity",
    columns: [
      ...columns("id", "at", "kind", "repo", "name", "reference"),
      { sqlite: "user", postgres: "user_name" },
      ...columns("bytes", "count", "detail"),
    ],
    key: ["id"],
    identity: "id",
  },
];

const AUTH_TABLES: readonly MirroredTable[] = [
  {
    table: "users",
    columns: [
      ...columns("name", "password_hash"),
      { sqlite: "admin", postgres: "admin", boolean: true },
      ...columns("groups", "created_at"),
    ],
    key: ["name"],
  },
  {
    table: "api_tokens",
    columns: [
      ...columns("id"),
      { sqlite: "user", postgres: "user_name" },
      ...columns("secret_hash", "description", "scopes", "expires_at", "revoked_at", "created_at"),
    ],
    key: ["id"],
  },
  {
    table: "sessions",
    columns: [
      ...columns("id_hash"),
      { sqlite: "user", postgres: "user_name" },
      ...columns("csrf_token", "created_at", "expires_at"),
    ],
    key: ["id_hash"],
  },
  { table: "settings", columns: columns("key", "value"), key: ["key"] },
];

export interface BlobsCopied {
  /** Copied this run, each re-hashed on the way. */
  readonly copied: number;
  readonly bytes: number;
  /** Already in the target (an earlier run copied them). */
  readonly present: number;
  /** Whose bytes are not their digest: left behind, `wharf verify --repair` deals with them. */
  readonly corrupt: readonly string[];
}

export interface MigrationReport {
  readonly blobs: BlobsCopied;
  readonly tables: readonly TableMirrored[];
  /** True when every blob went and every table holds as many rows as its source. */
  readonly complete: boolean;
}

export interface MigrationOptions {
  /** The single node's stores: its blobs are read from here. */
  readonly from: { readonly dataDir: string; readonly blobs: BlobStore };
  /** The cluster's: blobs go into this store, rows into this database (already migrated by opening it). */
  readonly to: { readonly blobs: BlobStore; readonly databaseUrl: string };
  /** Whether the single node has authentication data (auth.db) to move. */
  readonly withAuth: boolean;
  readonly onBlob?: (digest: string, outcome: "copied" | "present" | "corrupt") => void;
}

/**
 * Copies a single node's store into the cluster's, resumably and while the node keeps serving:
 * blobs first, each re-hashed as it is copied and committed under its digest only if it matched
 * (one already there is skipped), then the metadata and auth tables mirrored row by row, so no row
 * ever points at a blob the bucket lacks. Run again after the node stopped, it copies what changed
 * since and ends with row counts that match.
 */
export async function migrateStore(options: MigrationOptions): Promise<MigrationReport> {
  const blobs = await copyBlobs(options);
  const pool = openPool({ url: options.to.databaseUrl, maxConnections: 2 });
  const tables: TableMirrored[] = [];
  try {
    const sources: Array<[string, readonly MirroredTable[]]> = [["wharf.db", METADATA_TABLES]];
    if (options.withAuth) sources.push(["auth.db", AUTH_TABLES]);
    for (const [file, specs] of sources) {
      const sqlite = new Database(join(options.from.dataDir, file), { readonly: true, fileMustExist: true });
      try {
        for (const spec of specs) tables.push(await mirrorTable(sqlite, pool, spec));
      } finally {
        sqlite.close();
      }
    }
  } finally {
    await pool.end();
  }
  const complete = blobs.corrupt.length === 0 && tables.every((table) => table.source === table.target);
  return { blobs, tables, complete };
}

async function copyBlobs(options: MigrationOptions): Promise<BlobsCopied> {
  const { from, to, onBlob } = options;
  let copied = 0;
  let bytes = 0;
  let present = 0;
  const corrupt: string[] = [];
  for await (const digest of from.blobs.digests()) {
    if ((await to.blobs.stat(digest)) !== undefined) {
      present++;
      onBlob?.(digest, "present");
      continue;
    }
    const body = await from.blobs.read(digest).catch(() => undefined);
    // Removed since it was listed (eviction on the running node): nothing to copy.
    if (!body) continue;
    const hasher = createDigester(parseDigest(digest).algorithm);
    const writer = await to.blobs.begin(digest);
    let size = 0;
    try {
      for await (const chunk of body.stream() as AsyncIterable<Buffer>) {
        hasher.update(chunk);
        size += chunk.byteLength;
        await appendAll(writer, chunk);
      }
      const actual = `${parseDigest(digest).algorithm}:${hasher.digest("hex")}`;
      if (actual !== digest) {
        await writer.abort();
        corrupt.push(digest);
        onBlob?.(digest, "corrupt");
        continue;
      }
      await writer.commit(digest);
    } catch (error) {
      await writer.abort();
      throw error;
    } finally {
      body.release();
    }
    copied++;
    bytes += size;
    onBlob?.(digest, "copied");
  }
  return { copied, bytes, present, corrupt };
}
