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
import type {
  BlobLinkEntry,
  ManifestEntry,
  NameSpan,
  RepositoryContent,
  TagEntry,
} from "./metadata-store.js";

/** What a repository holds, as eviction, prune and the dashboard read it: every row of it. */
const CONTENT_SELECTS = {
  children: "SELECT name, digest, child FROM manifest_refs",
  manifests: "SELECT name, digest, subject, size, created_at, pulls, last_pulled_at FROM manifests",
  tags: "SELECT name, tag, digest, updated_at, pulls, last_pulled_at FROM tags",
  blobs: "SELECT name, digest, size, created_at, last_served_at FROM blobs",
} as const;

type ContentKind = keyof typeof CONTENT_SELECTS;
const CONTENT_KINDS = Object.keys(CONTENT_SELECTS) as ContentKind[];

/** Every name is after the empty one, so a span without a start needs no statement of its own. */
type SpanParams = [repo: string, after: string] | [repo: string, after: string, through: string];

/**
 * The content queries of one connection, prepared once: a repository's rows of the names in a
 * span, each bound on the primary key's (repo, name) prefix so that a span reads only its rows.
 */
export class ContentStatements {
  readonly #open: Record<ContentKind, Database.Statement<unknown[]>>;
  readonly #bounded: Record<ContentKind, Database.Statement<unknown[]>>;

  constructor(db: Database.Database) {
    const prepare = (upTo: boolean) =>
      Object.fromEntries(
        CONTENT_KINDS.map((kind) => [
          kind,
          db.prepare(`${CONTENT_SELECTS[kind]} WHERE repo = ? AND name > ?${upTo ? " AND name <= ?" : ""}`),
        ]),
      ) as Record<ContentKind, Database.Statement<unknown[]>>;
    this.#open = prepare(false);
    this.#bounded = prepare(true);
  }

  /** The statement reading `kind` rows for `span`, with its parameters. */
  for(
    kind: ContentKind,
    repo: string,
    span: NameSpan,
  ): { statement: Database.Statement<unknown[]>; params: SpanParams } {
    const after = span.after ?? "";
    return span.through === undefined
      ? { statement: this.#open[kind], params: [repo, after] }
      : { statement: this.#bounded[kind], params: [repo, after, span.through] };
  }

  /** Every row of `span`, read in one go. */
  all(repo: string, span: NameSpan): ContentRows {
    const rows = (kind: ContentKind) => {
      const { statement, params } = this.for(kind, repo, span);
      return statement.all(...params);
    };
    return {
      children: rows("children") as ChildRow[],
      manifests: rows("manifests") as ManifestEntryRow[],
      tags: rows("tags") as TagEntryRow[],
      blobs: rows("blobs") as BlobEntryRow[],
    };
  }
}

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

/** What each manifest references, by `name@digest`. */
export function childrenOf(rows: Iterable<ChildRow>): Children {
  const children: Children = new Map();
  for (const row of rows) addChild(children, row);
  return children;
}

/** The content rows, read in one go, as the MetadataStore hands them out. */
export function contentFrom(rows: ContentRows): RepositoryContent {
  const children = childrenOf(rows.children);
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
  readonly #statements: ContentStatements;
  #queue: Promise<unknown> = Promise.resolve();

  /** `path` is the store's database file, open already (so its WAL exists). */
  constructor(path: string) {
    this.#db = new Database(path, { readonly: true, fileMustExist: true });
    this.#db.pragma("busy_timeout = 5000");
    this.#statements = new ContentStatements(this.#db);
  }

  listContent(repo: string, span: NameSpan = {}): Promise<RepositoryContent> {
    const read = this.#queue.then(() => this.#read(repo, span));
    // Not the content itself: the queue would keep the last read alive until the next one.
    this.#queue = read.then(
      () => undefined,
      () => undefined,
    );
    return read;
  }

  async #read(repo: string, span: NameSpan): Promise<RepositoryContent> {
    const rows = <T>(kind: ContentKind) => {
      const { statement, params } = this.#statements.for(kind, repo, span);
      return statement.iterate(...params) as IterableIterator<T>;
    };
    this.#db.exec("BEGIN");
    try {
      const children: Children = new Map();
      await sliced(rows<ChildRow>("children"), (row) => addChild(children, row));
      const manifests: ManifestEntry[] = [];
      await sliced(rows<ManifestEntryRow>("manifests"), (row) =>
        manifests.push(manifestEntry(row, children.get(`${row.name}@${row.digest}`) ?? [])),
      );
      const tags: TagEntry[] = [];
      await sliced(rows<TagEntryRow>("tags"), (row) => tags.push(tagEntry(row)));
      const blobs: BlobLinkEntry[] = [];
      await sliced(rows<BlobEntryRow>("blobs"), (row) => blobs.push(blobEntry(row)));
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
