import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { FsBlobStore } from "../../src/store/fs-blob-store.js";
import { Spool } from "../../src/store/spool.js";
import { MemoryBlobStore, MemoryVolume } from "../fakes/memory-blob-store.js";
import { blobStoreConformance } from "../suites/blob-store.suite.js";
import { tempDir } from "./helpers.js";

blobStoreConformance("FsBlobStore", async (t) => {
  const root = await tempDir(t, "blob-store");
  const open = async () => {
    const store = new FsBlobStore({
      blobs: join(root, "blobs"),
      staging: new Spool(join(root, "tmp")),
      sessions: join(root, "uploads"),
    });
    await store.init();
    return store;
  };
  return {
    store: await open(),
    bodyKind: "file",
    reopen: open,
    staged: async () => [...(await readdir(join(root, "tmp"))), ...(await readdir(join(root, "uploads")))],
  };
});

blobStoreConformance("MemoryBlobStore (test/fakes)", async () => {
  const volume = new MemoryVolume();
  return {
    store: new MemoryBlobStore({ volume }),
    bodyKind: "stream",
    reopen: async () => new MemoryBlobStore({ volume }),
    staged: async () => [...volume.staging.keys(), ...volume.sessions.keys()],
  };
});
