import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { SqliteMetadataStore } from "../../src/meta/sqlite-metadata-store.js";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { sqliteUserVersion } from "./helpers.js";
import { metadataStoreConformance } from "./metadata-store.suite.js";
import { opsRecordsConformance } from "./ops-records.suite.js";

const directory = mkdtempSync(join(tmpdir(), "wharf-unit-sqlite-"));
after(() => rmSync(directory, { recursive: true, force: true }));

let files = 0;
function freshFile(): string {
  files += 1;
  return join(directory, `meta-${files}.db`);
}

metadataStoreConformance("SqliteMetadataStore(:memory:)", () => new SqliteMetadataStore(":memory:"));
metadataStoreConformance("SqliteMetadataStore(file)", () => new SqliteMetadataStore(freshFile()));
opsRecordsConformance("SqliteMetadataStore(:memory:)", () => new SqliteMetadataStore(":memory:"));
opsRecordsConformance("SqliteMetadataStore(file)", () => new SqliteMetadataStore(freshFile()));

/** What the fifth script made, undone: a database as the versions before it wrote them. */
const UNDO_CONTENT_SIZES = `DROP TRIGGER blobs_held; DROP TRIGGER blobs_released; DROP TRIGGER manifests_held;
  DROP TRIGGER manifests_released; DROP TABLE content_held; DROP TABLE content_files;
  DROP TABLE content_bytes; DROP TABLE content_total;`;

describe("SqliteMetadataStore on disk", () => {
  test("migrating a store that has content measures it as it was: the sizes kept from then on", async () => {
    const path = freshFile();
    const first = new SqliteMetadataStore(path);
    const d = (text: string) => digestOf(Buffer.from(text));
    await first.putManifest("hub", "app", {
      digest: d("m"),
      mediaType: MediaType.ociManifest,
      size: 10,
      references: [],
    });
    await first.linkBlob("hub", "app", d("l"), 1000);
    await first.linkBlob("hub", "other", d("l"), 1000);
    await first.linkBlob("cache", "app", d("l"), 1000);
    const before = await first.measureContent();
    await first.close();
    // As a store written before the sizes were kept: the tables and triggers gone, version 4.
    const db = new Database(path);
    db.exec(`${UNDO_CONTENT_SIZES} PRAGMA user_version = 4;`);
    db.close();
    const migrated = new SqliteMetadataStore(path);
    try {
      assert.deepEqual(await migrated.measureContent(), before);
      assert.deepEqual(before, { total: 1010, repositories: { cache: 1000, hub: 1010 } });
      await migrated.unlinkBlob("cache", "app", d("l"));
      assert.deepEqual(await migrated.measureContent(), { total: 1010, repositories: { hub: 1010 } });
    } finally {
      await migrated.close();
    }
  });

  const image = {
    digest: digestOf(Buffer.from("image")),
    mediaType: MediaType.ociManifest,
    size: 321,
    annotations: { "org.example/a": "b" },
    references: [digestOf(Buffer.from("config")), digestOf(Buffer.from("layer"))],
  };

  test("keeps everything across reopening, and reopening does not migrate again", async () => {
    const path = freshFile();
    const first = new SqliteMetadataStore(path);
    await first.putManifest("hub", "library/busybox", image);
    await first.setTag("hub", "library/busybox", "latest", image.digest, 1000);
    await first.linkBlob("hub", "library/busybox", image.references[1] as string, 42);
    await first.close();
    const version = sqliteUserVersion(path);
    assert.ok(version >= 1);

    for (let reopening = 0; reopening < 2; reopening++) {
      const store = new SqliteMetadataStore(path);
      try {
        const record = await store.getManifest("hub", "library/busybox", image.digest);
        assert.equal(record?.size, 321);
        assert.deepEqual(record?.annotations, image.annotations);
        assert.deepEqual(await store.getTag("hub", "library/busybox", "latest"), {
          digest: image.digest,
          updatedAt: 1000,
          validatedAt: 1000,
        });
        assert.equal(await store.hasBlob("hub", "library/busybox", image.references[1] as string), true);
        assert.deepEqual(await store.listNames("hub"), { names: ["library/busybox"], more: false });
      } finally {
        await store.close();
      }
      assert.equal(sqliteUserVersion(path), version);
    }
  });

  test("records what a manifest references, and forgets it with the manifest", async () => {
    // References are not readable through the interface yet; garbage collection will read them here.
    const path = freshFile();
    const store = new SqliteMetadataStore(path);
    const children = () => {
      const db = new Database(path, { readonly: true });
      try {
        return db
          .prepare(
            "SELECT child FROM manifest_refs WHERE repo = ? AND name = ? AND digest = ? ORDER BY child",
          )
          .all("hub", "x", image.digest)
          .map((row) => (row as { child: string }).child);
      } finally {
        db.close();
      }
    };
    try {
      await store.putManifest("hub", "x", {
        ...image,
        references: [...image.references, ...image.references],
      });
      assert.deepEqual(children(), [...image.references].sort());
      await store.deleteManifest("hub", "x", image.digest);
      assert.deepEqual(children(), []);
    } finally {
      await store.close();
    }
  });

  test("usage is kept across reopening", async () => {
    const path = freshFile();
    const first = new SqliteMetadataStore(path);
    await first.putManifest("hub", "x", image);
    await first.setTag("hub", "x", "latest", image.digest, 1000);
    await first.recordUsage({
      manifests: [{ repo: "hub", name: "x", digest: image.digest, pulls: 2, at: 5000 }],
      tags: [{ repo: "hub", name: "x", tag: "latest", pulls: 2, at: 5000 }],
      blobs: [],
    });
    await first.close();
    const store = new SqliteMetadataStore(path);
    try {
      const content = await store.listContent("hub");
      assert.deepEqual(
        content.manifests.map((m) => [m.pulls, m.lastPulledAt]),
        [[2, 5000]],
      );
      assert.deepEqual(
        content.tags.map((t) => [t.pulls, t.lastPulledAt]),
        [[2, 5000]],
      );
    } finally {
      await store.close();
    }
  });

  test("a database of the previous schema gains usage columns, its rows never pulled", async () => {
    const path = freshFile();
    const current = new SqliteMetadataStore(path);
    await current.close();
    const version = sqliteUserVersion(path);
    // Take the file back to the schema before usage (the second migration), with a row written by
    // that version: what came after usage goes too.
    const db = new Database(path);
    db.exec(`${UNDO_CONTENT_SIZES} DROP TABLE series_minute; DROP TABLE series_hour; DROP TABLE activity;
      DROP INDEX manifests_by_digest;
      ALTER TABLE manifests DROP COLUMN pulls; ALTER TABLE manifests DROP COLUMN last_pulled_at;
      ALTER TABLE tags DROP COLUMN pulls; ALTER TABLE tags DROP COLUMN last_pulled_at;
      ALTER TABLE blobs DROP COLUMN last_served_at;
      INSERT INTO manifests (repo, name, digest, media_type, size, created_at)
        VALUES ('hub', 'old', '${image.digest}', '${image.mediaType}', 321, 1000);
      INSERT INTO blobs (repo, name, digest, size, created_at) VALUES ('hub', 'old', '${image.references[1]}', 42, 1000);
      PRAGMA user_version = ${version - 3};`);
    db.close();
    const store = new SqliteMetadataStore(path);
    try {
      assert.equal(sqliteUserVersion(path), version);
      const content = await store.listContent("hub");
      assert.deepEqual(
        content.manifests.map((m) => [m.digest, m.size, m.pulls, m.lastPulledAt]),
        [[image.digest, 321, 0, undefined]],
      );
      assert.deepEqual(
        content.blobs.map((b) => [b.size, b.lastServedAt]),
        [[42, undefined]],
      );
      assert.equal(await store.isReferenced(image.digest), true);
    } finally {
      await store.close();
    }
  });
});
