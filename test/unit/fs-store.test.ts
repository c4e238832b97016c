import assert from "node:assert/strict";
import { access, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { digestOf } from "../../src/oci/digest.js";
import { appendAll } from "../../src/store/blob-writer.js";
import { FsBlobStore } from "../../src/store/fs-blob-store.js";
import { Spool } from "../../src/store/spool.js";
import { tempDir } from "./helpers.js";
import { pseudoRandomBytes } from "./store-helpers.js";

// The contract every blob store keeps is test/suites/blob-store.suite.ts (run by blob-stores.test.ts);
// these are the filesystem store's own promises: where its files are, and that they move by rename.

const BLOB = pseudoRandomBytes(2 * 1024 * 1024 + 17, 11);
const DIGEST = digestOf(BLOB);
const SESSION = "5f0e2b1c-9d8a-4b7c-8e6f-1a2b3c4d5e6f";

async function fixture(t: TestContext): Promise<{ root: string; store: FsBlobStore }> {
  const root = await tempDir(t, "blobs");
  const store = new FsBlobStore({
    blobs: join(root, "blobs"),
    staging: new Spool(join(root, "tmp")),
    sessions: join(root, "uploads"),
  });
  await store.init();
  return { root, store };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

function blobPath(root: string, digest: string): string {
  const hex = digest.slice("sha256:".length);
  return join(root, "blobs", "sha256", hex.slice(0, 2), hex);
}

describe("FsBlobStore", () => {
  test("a writer stages in tmp/ and its commit renames the file to <root>/<algorithm>/<2 hex>/<hex>", async (t) => {
    const { root, store } = await fixture(t);
    const writer = await store.begin();
    await appendAll(writer, BLOB);
    const [staged = "", ...others] = await readdir(join(root, "tmp"));
    assert.ok(staged.startsWith("blob-") && others.length === 0, `staged as ${staged}`);
    const inode = (await stat(join(root, "tmp", staged))).ino;
    await writer.commit(DIGEST);
    assert.deepEqual(await readdir(join(root, "tmp")), []);
    assert.equal((await stat(blobPath(root, DIGEST))).ino, inode, "the file was moved, not copied");
    assert.ok((await readFile(blobPath(root, DIGEST))).equals(BLOB));
  });

  test("an upload session lives in uploads/<id>, and its commit moves that file into the store", async (t) => {
    const { root, store } = await fixture(t);
    await store.sessions.create(SESSION);
    const writer = await store.sessions.resume(SESSION, 0);
    await appendAll(writer, BLOB);
    await writer.suspend();
    const path = join(root, "uploads", SESSION);
    assert.ok((await readFile(path)).equals(BLOB));
    const inode = (await stat(path)).ino;
    const closing = await store.sessions.resume(SESSION, BLOB.byteLength);
    await closing.commit(DIGEST);
    assert.equal(await exists(path), false);
    assert.equal((await stat(blobPath(root, DIGEST))).ino, inode, "the session file was moved, not copied");
  });

  test("the start-up sweep empties tmp/ and keeps uploads/", async (t) => {
    const { root, store } = await fixture(t);
    await store.sessions.create(SESSION);
    const writer = await store.begin();
    await appendAll(writer, BLOB);
    await writeFile(join(root, "tmp", "fill-left-over"), "x");
    assert.equal(await store.sweepStaging(), 2);
    assert.deepEqual(await readdir(join(root, "tmp")), []);
    assert.deepEqual(await readdir(join(root, "uploads")), [SESSION]);
    await writer.abort();
    await store.sessions.discard(SESSION);
  });

  test("an invalid digest or session id never becomes a path", async (t) => {
    const { root, store } = await fixture(t);
    const writer = await store.begin();
    await appendAll(writer, BLOB);
    await assert.rejects(writer.commit("sha256:../../../etc/passwd"));
    await writer.abort();
    await assert.rejects(store.sessions.create("../escape"));
    assert.equal(await exists(join(root, "escape")), false);
    assert.deepEqual(await readdir(join(root, "tmp")), []);
  });
});

describe("Spool", () => {
  test("init creates the directory, nested, and may run twice", async (t) => {
    const spool = new Spool(join(await tempDir(t, "spool"), "data", "tmp"));
    await spool.init();
    await spool.init();
    assert.deepEqual(await readdir(spool.directory), []);
  });

  test("create gives distinct files in the spool, open for writing and reading", async (t) => {
    const spool = new Spool(join(await tempDir(t, "spool"), "tmp"));
    await spool.init();
    const files = await Promise.all([spool.create("fill"), spool.create("fill"), spool.create("doc")]);
    try {
      const paths = files.map((f) => f.path);
      assert.equal(new Set(paths).size, 3);
      for (const path of paths) assert.equal(dirname(path), spool.directory);
      assert.ok(paths[0]?.startsWith(join(spool.directory, "fill-")));
      assert.ok(paths[2]?.startsWith(join(spool.directory, "doc-")));

      const [first] = files;
      assert.ok(first);
      await first.handle.write(Buffer.from("hello"), 0, 5, 0);
      const back = Buffer.alloc(5);
      await first.handle.read(back, 0, 5, 0);
      assert.equal(back.toString(), "hello");
      assert.equal(await readFile(first.path, "utf8"), "hello");
    } finally {
      await Promise.all(files.map((f) => f.handle.close()));
    }
  });

  test("clean removes every leftover, files and directories, and says how many", async (t) => {
    const spool = new Spool(join(await tempDir(t, "spool"), "tmp"));
    await spool.init();
    const { handle } = await spool.create("fill");
    await handle.close();
    await writeFile(spool.pathOf("upload-1234"), "partial upload");
    await mkdir(join(spool.pathOf("session"), "nested"), { recursive: true });
    await writeFile(join(spool.pathOf("session"), "nested", "part"), "x");
    assert.equal(await spool.clean(), 3);
    assert.deepEqual(await readdir(spool.directory), []);
    assert.equal(await spool.clean(), 0);
  });

  test("clean of a spool that does not exist yet removes nothing", async (t) => {
    const spool = new Spool(join(await tempDir(t, "spool"), "never-created"));
    assert.equal(await spool.clean(), 0);
  });

  test("create fails when the directory cannot hold files", async (t) => {
    const root = await tempDir(t, "spool");
    await writeFile(join(root, "file"), "");
    await assert.rejects(new Spool(join(root, "file", "tmp")).create("fill"), { code: "ENOTDIR" });
  });

  test("pathOf names a file inside the spool", () => {
    assert.equal(new Spool("/data/tmp").pathOf("upload-1"), join("/data/tmp", "upload-1"));
  });
});
