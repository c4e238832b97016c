import assert from "node:assert/strict";
import { access, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { digestOf } from "../../src/oci/digest.js";
import { OciError } from "../../src/oci/errors.js";
import { BlobNotFoundError } from "../../src/store/blob-store.js";
import { FsBlobStore } from "../../src/store/fs-blob-store.js";
import { Spool } from "../../src/store/spool.js";
import { tempDir } from "./helpers.js";
import { collect, pseudoRandomBytes } from "./store-helpers.js";

const BLOB = pseudoRandomBytes(2 * 1024 * 1024 + 17, 11);
const DIGEST = digestOf(BLOB);

async function fixture(
  t: TestContext,
): Promise<{ root: string; store: FsBlobStore; file: (bytes: Uint8Array) => Promise<string> }> {
  const root = await tempDir(t, "blobs");
  let files = 0;
  return {
    root,
    store: new FsBlobStore(join(root, "blobs")),
    file: async (bytes) => {
      files += 1;
      const path = join(root, `incoming-${files}`);
      await writeFile(path, bytes);
      return path;
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe("FsBlobStore", () => {
  test("a missing blob: stat is undefined, read rejects with BlobNotFoundError", async (t) => {
    const { store } = await fixture(t);
    assert.equal(await store.stat(DIGEST), undefined);
    await assert.rejects(
      store.read(DIGEST),
      (error) => error instanceof BlobNotFoundError && error.digest === DIGEST,
    );
  });

  test("putFile moves the file into <root>/<algorithm>/<2 hex>/<hex>", async (t) => {
    const { root, store, file } = await fixture(t);
    const incoming = await file(BLOB);
    await store.putFile(DIGEST, incoming);
    assert.equal(await exists(incoming), false, "the file was moved, not copied");
    const hex = DIGEST.slice("sha256:".length);
    assert.equal(await exists(join(root, "blobs", "sha256", hex.slice(0, 2), hex)), true);
    assert.equal(await store.stat(DIGEST), BLOB.byteLength);
    assert.ok((await collect(await store.read(DIGEST))).equals(BLOB));
  });

  test("putFile of a digest already stored discards the new file and keeps the old one", async (t) => {
    const { store, file } = await fixture(t);
    await store.putFile(DIGEST, await file(BLOB));
    const duplicate = await file(BLOB);
    await store.putFile(DIGEST, duplicate);
    assert.equal(await exists(duplicate), false);
    assert.ok((await collect(await store.read(DIGEST))).equals(BLOB));
  });

  const ranges: ReadonlyArray<readonly [string, { start: number; end: number }]> = [
    ["the first byte", { start: 0, end: 0 }],
    ["a middle slice across read chunks", { start: 1024 * 1024 - 5, end: 2 * 1024 * 1024 + 5 }],
    ["the last byte", { start: BLOB.byteLength - 1, end: BLOB.byteLength - 1 }],
    ["the whole blob", { start: 0, end: BLOB.byteLength - 1 }],
  ];
  for (const [why, range] of ranges) {
    test(`read with a range: ${why}`, async (t) => {
      const { store, file } = await fixture(t);
      await store.putFile(DIGEST, await file(BLOB));
      const bytes = await collect(await store.read(DIGEST, range));
      assert.ok(bytes.equals(BLOB.subarray(range.start, range.end + 1)));
    });
  }

  test("delete removes a blob; deleting a missing blob is not an error", async (t) => {
    const { store, file } = await fixture(t);
    await store.putFile(DIGEST, await file(BLOB));
    await store.delete(DIGEST);
    assert.equal(await store.stat(DIGEST), undefined);
    await store.delete(DIGEST);
    await assert.rejects(store.read(DIGEST), BlobNotFoundError);
  });

  test("digests() lists every stored blob, of every algorithm", async (t) => {
    const { store, file } = await fixture(t);
    const listed = async () => {
      const digests: string[] = [];
      for await (const digest of store.digests()) digests.push(digest);
      return digests.sort();
    };
    assert.deepEqual(await listed(), []);
    const contents = ["a", "b", "c", "d"].map((label) => Buffer.from(label));
    const expected: string[] = [];
    for (const [index, bytes] of contents.entries()) {
      const digest = digestOf(bytes, index % 2 === 0 ? "sha256" : "sha512");
      expected.push(digest);
      await store.putFile(digest, await file(bytes));
    }
    assert.deepEqual(await listed(), expected.sort());
    await store.delete(expected[0] as string);
    assert.deepEqual(await listed(), expected.slice(1));
  });

  test("an invalid digest never becomes a path", async (t) => {
    const { store, file } = await fixture(t);
    const escapes = ["sha256:../../../etc/passwd", `sha256:${"A".repeat(64)}`, "../x", ""];
    for (const digest of escapes) {
      const isDigestInvalid = (error: unknown) =>
        error instanceof OciError && error.code === "DIGEST_INVALID";
      await assert.rejects(store.stat(digest), isDigestInvalid);
      await assert.rejects(store.read(digest), isDigestInvalid);
      await assert.rejects(store.delete(digest), isDigestInvalid);
      await assert.rejects(store.putFile(digest, await file(BLOB)), isDigestInvalid);
    }
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
