import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { MetadataStore } from "../meta/metadata-store.js";
import { SqliteMetadataStore } from "../meta/sqlite-metadata-store.js";
import type { BlobStore } from "./blob-store.js";
import { Coalescer } from "./coalescer.js";
import { FsBlobStore } from "./fs-blob-store.js";
import { SmallContent } from "./small-content.js";
import { Spool } from "./spool.js";
import { type UploadLimits, UploadStore } from "./uploads.js";

/** Everything kept in the data directory, opened once and shared by every repository. */
export interface Stores {
  readonly dataDir: string;
  readonly spool: Spool;
  readonly blobs: BlobStore;
  readonly meta: MetadataStore;
  readonly documents: SmallContent;
  readonly coalescer: Coalescer;
  readonly uploads: UploadStore;
}

/**
 * Opens the data directory:
 *
 *   <data>/blobs/     verified content by digest (FsBlobStore)
 *   <data>/tmp/       downloads being verified; emptied here, since nothing in it can be trusted
 *   <data>/uploads/   push sessions; kept, so clients can resume (expired ones are purged later)
 *   <data>/wharf.db   metadata (SQLite)
 */
export async function openStores(dataDir: string, logger: Logger, limits: UploadLimits): Promise<Stores> {
  await mkdir(dataDir, { recursive: true });
  const spool = new Spool(join(dataDir, "tmp"));
  await spool.init();
  const debris = await spool.clean();
  if (debris > 0) logger.info({ files: debris }, "removed leftovers of interrupted writes");
  const blobs = new FsBlobStore(join(dataDir, "blobs"));
  const meta = new SqliteMetadataStore(join(dataDir, "wharf.db"));
  const uploads = new UploadStore(join(dataDir, "uploads"), meta, blobs, limits);
  await uploads.init();
  return {
    dataDir,
    spool,
    blobs,
    meta,
    documents: new SmallContent(blobs, spool),
    coalescer: new Coalescer(spool, blobs),
    uploads,
  };
}
