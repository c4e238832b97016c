import { setImmediate as nextTurn } from "node:timers/promises";
import Database from "better-sqlite3";
import {
  type BlobEntryRow,
  blobEntry,
  type ManifestEntryRow,
  manifestEntry,
  type TagEntryRow,
  tagEntry,
} from "./metadata-rows.js";
import type { BlobLinkEntry, ManifestEntry, RepositoryContent, TagEntry } from "./metadata-store.js";

/** What a repository holds, as eviction, prune and the dashboard read it: every row of it. */
export const CONTENT_QUERIES = {
  children: "SELECT name, digest, child FROM manifest_refs WHERE repo = ?",
  manifests:
    "SELECT name, digest, subject, size, created_at, pulls, last_pulled_at FROM manifests WHERE repo = ?",
  tags: "SELECT name, tag, digest, updated_at, pulls, last_pulled_at FROM tags WHERE repo = ?",
  blobs: "SELECT name, digest, size, created_at, last_served_at FROM blobs WHERE repo = ?",
} as const;

export interface ChildRow {
  name: string;
  digest: string;
  child: string;
}

export interface ContentRows {
  readonly children: Iterable<ChildRow>;
  readonly manifests: Iterable<ManifestEntryRow>;
  readonly tags: Iterable<TagEntryRow>;
  readonly blobs: Iterable<BlobEntryRow>;
}

type Children = Map<string, string[]>;

function addChild(children: Children, row: ChildRow): void {
  const key = `${row.name}@${row.digest}`;
  const list = children.get(key);
  if (list) list.push(row.child);
  else children.set(key, [row.child]);
}

/** The content rows, read in one go, as the MetadataStore hands them out. */
export function contentFrom(rows: ContentRows): RepositoryContent {
  const children: Children = new Map();
  for (const row of rows.children) addChild(children, row);
  return {
    manifests: [...rows.manifests].map((row) =>
      manifestEntry(row, children.get(`${row.name}@${row.digest}`) ?? []),
    ),
    tags: [...rows.tags].map(tagEntry),
    blobs: [...rows.blobs].map(blobEntry),
  };
}

/**
 * Rows read before the event loop gets a turn. At a million blobs, reading a repository whole
 * takes seconds: in one go it would hold every request for that long (the dashboard's catalog at
 * start-up held a million-blob store's first request for 7 s).
 */
const ROWS_PER_TURN = 2_000;

/**
 * Reads a repository's whole content on a connection of its own, a slice at a time, so that
 * requests go on meanwhile on the store's connection. The slices belong to one read transaction
 * (WAL gives it a snapshot), so the content is what one moment held, as when read in one go.
 * One read at a time: a connection can run one statement's iteration.
 */
export class BackgroundContentReader {
  readonly #db: Database.Database;
  readonly #statements: { readonly [K in keyof typeof CONTENT_QUERIES]: Database.Statement<[string]> };
  #queue: Promise<unknown> = Promise.resolve();

  /** `path` is the store's database file, open already (so its WAL exists). */
  constructor(path: string) {
    this.#db = new Database(path, { readonly: true, fileMustExist: true });
    this.#db.pragma("busy_timeout = 5000");
    this.#statements = {
      children: this.#db.prepare(CONTENT_QUERIES.children),
      manifests: this.#db.prepare(CONTENT_QUERIES.manifests),
      tags: this.#db.prepare(CONTENT_QUERIES.tags),
      blobs: this.#db.prepare(CONTENT_QUERIES.blobs),
    };
  }

  listContent(repo: string): Promise<RepositoryContent> {
    const read = this.#queue.then(() => this.#read(repo));
    this.#queue = read.catch(() => undefined);
    return read;
  }

  async #read(repo: string): Promise<RepositoryContent> {
    const s = this.#statements;
    this.#db.exec("BEGIN");
    try {
      const children: Children = new Map();
      await sliced(s.children.iterate(repo) as IterableIterator<ChildRow>, (row) => addChild(children, row));
      const manifests: ManifestEntry[] = [];
      await sliced(s.manifests.iterate(repo) as IterableIterator<ManifestEntryRow>, (row) =>
        manifests.push(manifestEntry(row, children.get(`${row.name}@${row.digest}`) ?? [])),
      );
      const tags: TagEntry[] = [];
      await sliced(s.tags.iterate(repo) as IterableIterator<TagEntryRow>, (row) => tags.push(tagEntry(row)));
      const blobs: BlobLinkEntry[] = [];
      await sliced(s.blobs.iterate(repo) as IterableIterator<BlobEntryRow>, (row) =>
        blobs.push(blobEntry(row)),
      );
      return { manifests, tags, blobs };
    } finally {
      this.#db.exec("COMMIT");
    }
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

/** Hands every row to `each`, giving the event loop a turn every ROWS_PER_TURN rows. */
async function sliced<T>(rows: IterableIterator<T>, each: (row: T) => void): Promise<void> {
  let count = 0;
  for (const row of rows) {
    each(row);
    if (++count % ROWS_PER_TURN === 0) await nextTurn();
  }
}
