import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { SqliteMetadataStore } from "../../src/meta/sqlite-metadata-store.js";
import type { BlobStore } from "../../src/store/blob-store.js";
import { FsBlobStore } from "../../src/store/fs-blob-store.js";
import { Spool } from "../../src/store/spool.js";
import { StagedUploadSessions } from "../../src/store/staged-upload-sessions.js";
import { ManualClock } from "../fakes/manual-clock.js";
import { MemoryBlobStore, MemoryVolume } from "../fakes/memory-blob-store.js";
import { type UploadSessionsFactory, uploadSessionsConformance } from "../suites/upload-sessions.suite.js";
import { tempDir } from "./helpers.js";

/** Sessions over the blob store `open` gives and a SQLite database; a restart is a new instance over both. */
/** Short, so the refusals of a second writer come quickly; the suite finishes a first writer within it. */
const LOCK_WAIT_MS = 200;

function stagedSessions(
  open: (t: TestContext) => Promise<{ blobs: BlobStore; staged(): Promise<string[]> }>,
): UploadSessionsFactory {
  return async (t, limits) => {
    const meta = new SqliteMetadataStore(":memory:");
    t.after(() => meta.close());
    const clock = new ManualClock();
    const { blobs, staged } = await open(t);
    const sessions = () => new StagedUploadSessions({ meta, blobs, limits, clock, lockWaitMs: LOCK_WAIT_MS });
    return { sessions: sessions(), blobs, clock, restart: sessions, staged };
  };
}

uploadSessionsConformance(
  "StagedUploadSessions over FsBlobStore",
  stagedSessions(async (t) => {
    const root = await tempDir(t, "uploads");
    const blobs = new FsBlobStore({
      blobs: join(root, "blobs"),
      staging: new Spool(join(root, "tmp")),
      sessions: join(root, "uploads"),
    });
    await blobs.init();
    return {
      blobs,
      staged: async () => [...(await readdir(join(root, "tmp"))), ...(await readdir(join(root, "uploads")))],
    };
  }),
);

uploadSessionsConformance(
  "StagedUploadSessions over MemoryBlobStore (test/fakes)",
  stagedSessions(async () => {
    const volume = new MemoryVolume();
    return {
      blobs: new MemoryBlobStore({ volume }),
      staged: async () => [...volume.staging.keys(), ...volume.sessions.keys()],
    };
  }),
);
