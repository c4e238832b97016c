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

describe("SqliteMetadataStore on disk", () => {
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
});
