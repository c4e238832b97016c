// The metadata cache: a MetadataStore like any other (the conformance suite), lookups answered
// from memory, and never an answer a write replaced: writes through it, its transactions, and
// another process's commits to the same database (the CLI beside a server) are all seen at once.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { CachedMetadataStore } from "../../src/meta/cached-metadata-store.js";
import type { MetadataStore } from "../../src/meta/metadata-store.js";
import { SqliteMetadataStore } from "../../src/meta/sqlite-metadata-store.js";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { MemoryMetadataStore } from "../fakes/memory-metadata-store.js";
import { metadataStoreConformance } from "./metadata-store.suite.js";

const directory = mkdtempSync(join(tmpdir(), "wharf-unit-cached-"));
after(() => rmSync(directory, { recursive: true, force: true }));
let files = 0;
const freshFile = () => join(directory, `meta-${++files}.db`);

function cachedSqlite(path = freshFile()): CachedMetadataStore {
  const sqlite = new SqliteMetadataStore(path);
  return new CachedMetadataStore(sqlite, { outsideVersion: sqlite.dataVersion });
}

metadataStoreConformance("CachedMetadataStore(SqliteMetadataStore)", () => cachedSqlite());
metadataStoreConformance(
  "CachedMetadataStore(memory)",
  () => new CachedMetadataStore(new MemoryMetadataStore()),
);

const manifest = (text: string) => ({
  digest: digestOf(Buffer.from(text)),
  mediaType: MediaType.ociManifest,
  size: text.length,
  references: [],
});

/** The inner store, counting the lookups that reached it. */
function counted(inner: MetadataStore): { store: MetadataStore; reads: () => number } {
  let reads = 0;
  const store = new Proxy(inner, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (key === "getTag" || key === "getManifest" || key === "hasBlob") reads++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, reads: () => reads };
}

describe("CachedMetadataStore", () => {
  const a = manifest("a");
  const b = manifest("b");

  test("a warm lookup reads nothing; a write through it is seen by the next lookup", async () => {
    const { store, reads } = counted(new MemoryMetadataStore());
    const cache = new CachedMetadataStore(store);
    await cache.putManifest("hub", "app", a);
    await cache.setTag("hub", "app", "1", a.digest, 1000);
    for (let i = 0; i < 3; i++) {
      assert.equal((await cache.getTag("hub", "app", "1"))?.digest, a.digest);
      assert.equal((await cache.getManifest("hub", "app", a.digest))?.digest, a.digest);
      assert.equal(await cache.hasBlob("hub", "app", a.digest), false);
    }
    assert.equal(reads(), 3, "each looked up once");
    // The tag moves: the moved tag is what the next lookup sees.
    await cache.putManifest("hub", "app", b);
    await cache.setTag("hub", "app", "1", b.digest, 2000);
    assert.equal((await cache.getTag("hub", "app", "1"))?.digest, b.digest);
    await cache.markTagValidated("hub", "app", "1", 3000);
    assert.equal((await cache.getTag("hub", "app", "1"))?.validatedAt, 3000);
    // A deleted manifest is gone at once, with its tags.
    await cache.deleteManifest("hub", "app", b.digest);
    assert.equal(await cache.getManifest("hub", "app", b.digest), undefined);
    assert.equal(await cache.getTag("hub", "app", "1"), undefined);
    await cache.linkBlob("hub", "app", a.digest, 1);
    assert.equal(await cache.hasBlob("hub", "app", a.digest), true);
    await cache.forgetDigest(a.digest);
    assert.equal(await cache.hasBlob("hub", "app", a.digest), false);
    assert.equal(await cache.getManifest("hub", "app", a.digest), undefined);
  });

  test("a repository that is not cacheable is read every time: another node's push there is seen at once", async () => {
    const shared = new MemoryMetadataStore();
    const { store, reads } = counted(shared);
    const cache = new CachedMetadataStore(store, { cacheable: (repo) => repo === "hub" });
    await shared.putManifest("private", "app", a);
    await shared.setTag("private", "app", "1", a.digest, 1000);
    await shared.putManifest("hub", "app", a);
    for (let i = 0; i < 3; i++) {
      assert.equal((await cache.getTag("private", "app", "1"))?.digest, a.digest);
      assert.ok(await cache.getManifest("hub", "app", a.digest));
    }
    assert.equal(reads(), 4, "the hosted tag read three times, the proxy's manifest once");
    // Another node (writing the shared store, not through this cache) moves the hosted tag.
    await shared.putManifest("private", "app", b);
    await shared.setTag("private", "app", "1", b.digest, 2000);
    assert.equal((await cache.getTag("private", "app", "1"))?.digest, b.digest);
  });

  test("what a transaction changed is seen once it committed; a rollback changes nothing", async () => {
    const cache = new CachedMetadataStore(new MemoryMetadataStore());
    await cache.putManifest("hub", "app", a);
    await cache.setTag("hub", "app", "1", a.digest, 1000);
    assert.ok(await cache.getManifest("hub", "app", a.digest));
    await cache.transaction(async (tx) => {
      await tx.deleteManifest("hub", "app", a.digest);
    });
    assert.equal(await cache.getManifest("hub", "app", a.digest), undefined);
    assert.equal(await cache.getTag("hub", "app", "1"), undefined);
    await cache.putManifest("hub", "app", b);
    assert.ok(await cache.getManifest("hub", "app", b.digest));
    await assert.rejects(
      cache.transaction(async (tx) => {
        await tx.deleteManifest("hub", "app", b.digest);
        throw new Error("rolled back");
      }),
    );
    assert.ok(await cache.getManifest("hub", "app", b.digest));
  });

  test("a lookup that read across a write is not kept", async () => {
    const inner = new MemoryMetadataStore();
    let hold: (() => void) | undefined;
    const slow = new Proxy(inner, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key);
        if (key !== "getTag" || typeof value !== "function")
          return typeof value === "function" ? value.bind(target) : value;
        return async (...args: unknown[]) => {
          const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (hold === undefined)
            await new Promise<void>((resolve) => {
              hold = resolve;
            });
          return result;
        };
      },
    });
    const cache = new CachedMetadataStore(slow);
    await cache.setTag("hub", "app", "1", a.digest, 1000);
    const reading = cache.getTag("hub", "app", "1");
    while (hold === undefined) await new Promise((resolve) => setImmediate(resolve));
    await cache.setTag("hub", "app", "1", b.digest, 2000);
    hold();
    assert.equal((await reading)?.digest, a.digest, "what it read before the write");
    assert.equal((await cache.getTag("hub", "app", "1"))?.digest, b.digest, "but not kept");
  });

  test("another process's commit (the CLI beside a server) is seen at the next lookup", async () => {
    const path = freshFile();
    const server = cachedSqlite(path);
    const cli = new SqliteMetadataStore(path);
    try {
      await server.putManifest("hub", "app", a);
      await server.setTag("hub", "app", "1", a.digest, 1000);
      await server.linkBlob("hub", "app", b.digest, 1);
      assert.ok(await server.getManifest("hub", "app", a.digest));
      assert.equal((await server.getTag("hub", "app", "1"))?.digest, a.digest);
      assert.equal(await server.hasBlob("hub", "app", b.digest), true);
      // gc, prune or verify --repair, on their own connection
      await cli.transaction(async (tx) => {
        await tx.deleteManifest("hub", "app", a.digest);
        await tx.unlinkBlob("hub", "app", b.digest);
      });
      assert.equal(await server.getManifest("hub", "app", a.digest), undefined);
      assert.equal(await server.getTag("hub", "app", "1"), undefined);
      assert.equal(await server.hasBlob("hub", "app", b.digest), false);
    } finally {
      await cli.close();
      await server.close();
    }
  });

  test("another node's change, heard through invalidations; and a bound on age without any", async () => {
    let now = 0;
    const shared = new MemoryMetadataStore();
    const cache = new CachedMetadataStore(shared, { maxAgeMs: 5_000, now: () => now });
    const other = new CachedMetadataStore(shared, { changed: (change) => cache.invalidate(change) });
    await other.setTag("hub", "app", "1", a.digest, 1000);
    assert.equal((await cache.getTag("hub", "app", "1"))?.digest, a.digest);
    await other.setTag("hub", "app", "1", b.digest, 2000);
    assert.equal((await cache.getTag("hub", "app", "1"))?.digest, b.digest, "told");
    // A change nobody told it of (the message lost): served at most maxAgeMs.
    await shared.setTag("hub", "app", "1", a.digest, 3000);
    now += 4_000;
    assert.equal((await cache.getTag("hub", "app", "1"))?.digest, b.digest);
    now += 2_000;
    assert.equal((await cache.getTag("hub", "app", "1"))?.digest, a.digest);
  });
});
