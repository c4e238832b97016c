// The PostgreSQL metadata and auth stores on a real PostgreSQL of this file's own: the suites the
// SQLite stores pass (content metadata, the operator's records, users, tokens and sessions), then what PostgreSQL adds: migrations that several nodes run at once, data
// that outlives a store, transactions on a connection of their own, and request-path queries
// that stay index lookups as the tables grow.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PostgresAuthStore } from "../../src/auth/postgres-auth-store.js";
import { PostgresMetadataStore } from "../../src/meta/postgres-metadata-store.js";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { type PostgresServer, startPostgres } from "../harness/backends/postgres.js";
import { ALICE, authStoreConformance } from "../unit/auth-store.suite.js";
import { metadataStoreConformance } from "../unit/metadata-store.suite.js";
import { opsRecordsConformance } from "../unit/ops-records.suite.js";

let server: PostgresServer;
before(async () => {
  server = await startPostgres();
});
after(() => server?.stop());

let schemas = 0;
/** A URL whose connections work in a new, empty schema: a fresh database for one store, in a few ms. */
function freshUrl(): Promise<string> {
  schemas += 1;
  return server.schemaUrl(`test_${schemas}`);
}

metadataStoreConformance("PostgresMetadataStore", async () =>
  PostgresMetadataStore.open({ url: await freshUrl(), maxConnections: 4 }),
);
opsRecordsConformance("PostgresMetadataStore", async () =>
  PostgresMetadataStore.open({ url: await freshUrl(), maxConnections: 4 }),
);
authStoreConformance("PostgresAuthStore", async () =>
  PostgresAuthStore.open({ url: await freshUrl(), maxConnections: 2 }),
);

/** What wharf_schema says, per component. */
async function versionsIn(schema: string): Promise<Array<{ component: string; version: number }>> {
  const { rows } = await server.query(
    `SELECT component, version FROM ${schema}.wharf_schema ORDER BY component`,
  );
  return rows as Array<{ component: string; version: number }>;
}

const IMAGE = {
  digest: digestOf(Buffer.from("image")),
  mediaType: MediaType.ociManifest,
  size: 321,
  annotations: { "org.example/a": "b" },
  references: [digestOf(Buffer.from("config")), digestOf(Buffer.from("layer"))],
};

describe("PostgreSQL: what a database server adds", () => {
  test("nodes starting at once on an empty database migrate it once, and all of them open", async () => {
    const url = await freshUrl();
    const stores = await Promise.all([
      ...Array.from({ length: 4 }, () => PostgresMetadataStore.open({ url, maxConnections: 2 })),
      ...Array.from({ length: 3 }, () => PostgresAuthStore.open({ url, maxConnections: 2 })),
    ]);
    try {
      const together = await versionsIn(`test_${schemas}`);
      // What one node alone leaves: every script run once.
      const alone = await freshUrl();
      await (await PostgresMetadataStore.open({ url: alone, maxConnections: 1 })).close();
      await (await PostgresAuthStore.open({ url: alone, maxConnections: 1 })).close();
      assert.deepEqual(together, await versionsIn(`test_${schemas}`));
      assert.deepEqual(
        together.map((row) => row.component),
        ["auth", "metadata"],
      );
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  test("what one store wrote, another opened later (a restart, another node) reads, and no migration runs twice", async () => {
    const url = await freshUrl();
    const first = await PostgresMetadataStore.open({ url, maxConnections: 2 });
    await first.putManifest("hub", "library/busybox", IMAGE);
    await first.setTag("hub", "library/busybox", "latest", IMAGE.digest, 1000);
    await first.linkBlob("hub", "library/busybox", IMAGE.references[1] as string, 42);
    const auth = await PostgresAuthStore.open({ url, maxConnections: 2 });
    await auth.putUser(ALICE);
    await Promise.all([first.close(), auth.close()]);
    const versions = await versionsIn(`test_${schemas}`);

    const again = await PostgresMetadataStore.open({ url, maxConnections: 2 });
    const againAuth = await PostgresAuthStore.open({ url, maxConnections: 2 });
    try {
      assert.deepEqual(
        (await again.getManifest("hub", "library/busybox", IMAGE.digest))?.annotations,
        IMAGE.annotations,
      );
      assert.deepEqual(await again.getTag("hub", "library/busybox", "latest"), {
        digest: IMAGE.digest,
        updatedAt: 1000,
        validatedAt: 1000,
      });
      assert.equal(await again.hasBlob("hub", "library/busybox", IMAGE.references[1] as string), true);
      assert.deepEqual(await againAuth.getUser("alice"), ALICE);
      assert.deepEqual(await versionsIn(`test_${schemas}`), versions);
    } finally {
      await Promise.all([again.close(), againAuth.close()]);
    }
  });

  test("a transaction holds a connection of its own: calls outside it go on meanwhile", async () => {
    const store = await PostgresMetadataStore.open({ url: await freshUrl(), maxConnections: 3 });
    try {
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let inside = () => {};
      const entered = new Promise<void>((resolve) => {
        inside = resolve;
      });
      const running = store.transaction(async (tx) => {
        await tx.setTag("hub", "x", "inside", IMAGE.digest, 1);
        inside();
        await held;
      });
      await entered;
      // With SQLite these would wait for the transaction; here they complete while it is open.
      await store.setTag("hub", "x", "outside", IMAGE.digest, 1);
      assert.deepEqual((await store.listTags("hub", "x")).tags, ["outside"]);
      release();
      await running;
      assert.deepEqual((await store.listTags("hub", "x")).tags, ["inside", "outside"]);
    } finally {
      await store.close();
    }
  });

  test("names and tags list in byte order whatever the database's collation, as with SQLite", async () => {
    // A database whose own collation would sort "a-1" after "B" and "é" next to "e".
    await server.query(
      "CREATE DATABASE linguistic LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8' TEMPLATE template0",
    );
    const store = await PostgresMetadataStore.open({
      url: server.url.replace(/\/postgres$/, "/linguistic"),
      maxConnections: 2,
    });
    try {
      const tags = ["b", "B", "a-1", "a.1", "a_1", "A", "1", "é"];
      for (const tag of tags) await store.setTag("hub", "x", tag, IMAGE.digest, 1);
      const expected = [...tags].sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1));
      assert.deepEqual((await store.listTags("hub", "x")).tags, expected);
      assert.deepEqual(
        (await store.listTags("hub", "x", { limit: 3, last: "A" })).tags,
        expected.slice(2, 5),
      );
    } finally {
      await store.close();
    }
  });

  test("the request path's queries are index lookups on large tables", async () => {
    const url = await freshUrl();
    const store = await PostgresMetadataStore.open({ url, maxConnections: 2 });
    const schema = `"test_${schemas}"`;
    try {
      // 20 000 blob links, 5 000 manifests and tags over 500 names: enough that a scan would be chosen only if no index fits.
      await server.query(
        `INSERT INTO ${schema}.blobs (repo, name, digest, size, created_at)
         SELECT 'hub', 'name/' || (i % 500), 'sha256:' || md5(i::text) || md5((i + 1)::text), i, 0
         FROM generate_series(1, 20000) AS i`,
      );
      await server.query(
        `INSERT INTO ${schema}.manifests (repo, name, digest, media_type, size, subject, created_at)
         SELECT 'hub', 'name/' || (i % 500), 'sha256:' || md5(i::text) || md5((i + 2)::text), 'x', i,
                CASE WHEN i % 10 = 0 THEN 'sha256:subject' || (i % 50) END, 0
         FROM generate_series(1, 5000) AS i`,
      );
      await server.query(
        `INSERT INTO ${schema}.tags (repo, name, tag, digest, updated_at, validated_at)
         SELECT 'hub', 'name/' || (i % 500), 'v' || i, 'sha256:x', 0, 0 FROM generate_series(1, 5000) AS i`,
      );
      await server.query(`ANALYZE ${schema}.blobs, ${schema}.manifests, ${schema}.tags`);
      const plans: Record<string, string> = {
        "blob link": `SELECT 1 FROM ${schema}.blobs WHERE repo = 'hub' AND name = 'name/7' AND digest = 'sha256:ab'`,
        manifest: `SELECT * FROM ${schema}.manifests WHERE repo = 'hub' AND name = 'name/7' AND digest = 'sha256:ab'`,
        tag: `SELECT * FROM ${schema}.tags WHERE repo = 'hub' AND name = 'name/7' AND tag = 'latest'`,
        "tag page": `SELECT tag FROM ${schema}.tags WHERE repo = 'hub' AND name = 'name/7' AND tag > '' ORDER BY tag LIMIT 101`,
        referrers: `SELECT * FROM ${schema}.manifests WHERE repo = 'hub' AND name = 'name/10' AND subject = 'sha256:subject10'`,
        "known name": `SELECT EXISTS (SELECT 1 FROM ${schema}.blobs WHERE repo = 'hub' AND name = 'name/7')`,
        "blob holders": `SELECT repo FROM ${schema}.blobs WHERE digest = 'sha256:ab'`,
        "manifests of a digest (is a file still needed)": `SELECT 1 FROM ${schema}.manifests WHERE digest = 'sha256:ab'`,
      };
      for (const [what, sql] of Object.entries(plans)) {
        const plan = (await server.query(`EXPLAIN ${sql}`)).rows.map((row) => row["QUERY PLAN"]).join("\n");
        assert.doesNotMatch(plan, /Seq Scan/, `${what} scans its table:\n${plan}`);
      }
    } finally {
      await store.close();
    }
  });
});
