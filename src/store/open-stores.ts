import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { type IngestGuard, LocalIngestGuard } from "../coordination/ingest-guard.js";
import type { MetadataStore } from "../meta/metadata-store.js";
import { SqliteMetadataStore } from "../meta/sqlite-metadata-store.js";
import type { BlobStore } from "./blob-store.js";
import { Coalescer, type DownloadObserver } from "./coalescer.js";
import { FsBlobStore } from "./fs-blob-store.js";
import { SmallContent } from "./small-content.js";
import { Spool } from "./spool.js";
import { StagedUploadSessions, type UploadObserver } from "./staged-upload-sessions.js";
import type { UploadLimits, UploadSessions } from "./upload-sessions.js";

/** Everything kept in the data directory, opened once and shared by every repository. */
export interface Stores {
  readonly dataDir: string;
  /** Local scratch (`data/tmp`): staging and downloads' own copies; readiness writes a probe here. */
  readonly spool: Spool;
  readonly blobs: BlobStore;
  readonly meta: MetadataStore;
  readonly documents: SmallContent;
  readonly coalescer: Coalescer;
  readonly uploads: UploadSessions;
  /** Digests being made reachable: eviction and garbage collection delete none of their files. */
  readonly ingests: IngestGuard;
}

export interface StoreOptions {
  /** Who hears what downloads do (metrics, eviction's triggers). */
  readonly downloads?: DownloadObserver;
  /** Who hears what upload sessions do (metrics). */
  readonly uploads?: UploadObserver;
  /**
   * Empty `tmp/` (true by default): only when no server works on the directory, since its
   * downloads in progress stage there.
   */
  readonly sweep?: boolean;
}

/**
 * Opens the data directory:
 *
 *   <data>/blobs/     verified content by digest (FsBlobStore)
 *   <data>/tmp/       blobs being written and downloads being verified; emptied here (unless a
 *                     server works on it), since nothing in it can be trusted
 *   <data>/uploads/   push sessions; kept, so clients can resume (expired ones are purged later)
 *   <data>/wharf.db   metadata (SQLite)
 */
export async function openStores(
  dataDir: string,
  logger: Logger,
  limits: UploadLimits,
  options: StoreOptions = {},
): Promise<Stores> {
  await mkdir(dataDir, { recursive: true });
  // One spool for the store's staging and the downloads' own copies: one directory to sweep.
  const spool = new Spool(join(dataDir, "tmp"));
  const blobs = new FsBlobStore({
    blobs: join(dataDir, "blobs"),
    staging: spool,
    sessions: join(dataDir, "uploads"),
  });
  await blobs.init();
  if (options.sweep ?? true) {
    const debris = await blobs.sweepStaging();
    if (debris > 0) logger.info({ files: debris }, "removed leftovers of interrupted writes");
  }
  const meta = new SqliteMetadataStore(join(dataDir, "wharf.db"));
  // This process's own: the scale-out issue hands in one every node shares.
  const ingests = new LocalIngestGuard();
  return {
    dataDir,
    spool,
    blobs,
    meta,
    documents: new SmallContent(blobs),
    coalescer: new Coalescer(blobs, spool, {
      ingests,
      ...(options.downloads ? { observer: options.downloads } : {}),
    }),
    uploads: new StagedUploadSessions({
      meta,
      blobs,
      limits,
      ...(options.uploads ? { observer: options.uploads } : {}),
    }),
    ingests,
  };
}
