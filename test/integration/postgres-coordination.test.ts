// The cluster's shared state on a real PostgreSQL of this file's own: two PostgresCoordination
// objects on one database are two nodes. The contracts every implementation keeps
// (test/suites/coordination.suite.ts), then what only a cluster has: leases that run out when their
// node stops renewing, advisory locks a dead connection lets go of (and a reconnected one takes
// again), one signing key for nodes starting together, the nodes table, and the auth tables'
// trigger telling every node that users or tokens changed.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { PostgresAuthStore } from "../../src/auth/postgres-auth-store.js";
import { TOPICS } from "../../src/coordination/coordination.js";
import { ingesting } from "../../src/coordination/ingest-guard.js";
import {
  PostgresCoordination,
  type PostgresCoordinationOptions,
} from "../../src/coordination/postgres-coordination.js";
import { openStores } from "../../src/store/open-stores.js";
import type { Clock } from "../../src/util/clock.js";
import { type PostgresServer, startPostgres } from "../harness/backends/postgres.js";
import { makeTempDir } from "../harness/system/tmp.js";
import {
  invalidationsConformance,
  type Note,
  turnConformance,
  uploadLockConformance,
  upstreamStateConformance,
} from "../suites/coordination.suite.js";

let server: PostgresServer;
before(async () => {
  server = await startPostgres();
});
after(() => server?.stop());

let schemas = 0;
const opened: PostgresCoordination[] = [];
after(async () => {
  for (const coordination of opened) await coordination.close().catch(() => {});
});

/** Nodes on one fresh schema: a cluster of their own for one test. */
async function cluster(
  count: number,
  clock?: Clock,
  options: Partial<PostgresCoordinationOptions> = {},
): Promise<{ url: string; nodes: PostgresCoordination[] }> {
  schemas += 1;
  const url = await server.schemaUrl(`coordination_${schemas}`);
  const nodes = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      PostgresCoordination.open({
        url,
        maxConnections: 4,
        self: `node-${i}`,
        ...(clock ? { clock } : {}),
        ...options,
      }),
    ),
  );
  opened.push(...nodes);
  return { url, nodes };
}

async function two(clock: Clock): Promise<readonly [PostgresCoordination, PostgresCoordination]> {
  const { nodes } = await cluster(2, clock);
  return [nodes[0] as PostgresCoordination, nodes[1] as PostgresCoordination];
}

upstreamStateConformance("postgres", async (clock) => {
  const [a, b] = await two(clock);
  return [a.upstreamState("hub"), b.upstreamState("hub")];
});
uploadLockConformance("postgres", async (clock) => {
  const [a, b] = await two(clock);
  return [a.uploadLock, b.uploadLock];
});
turnConformance(
  "postgres",
  async (clock) => {
    const [a, b] = await two(clock);
    return [a.eviction, b.eviction];
  },
  true,
);
/** Both nodes' invalidations of one topic, once each LISTENs. */
let invalidationsCluster: Promise<readonly [PostgresCoordination, PostgresCoordination]> | undefined;
invalidationsConformance("postgres", async (topic) => {
  invalidationsCluster ??= two({ now: () => Date.now() });
  const [a, b] = await invalidationsCluster;
  const pair = [
    a.invalidations<Note>(topic, { everything: true }),
    b.invalidations<Note>(topic, { everything: true }),
  ] as const;
  await Promise.all(pair.map((invalidations) => invalidations.listening));
  return pair;
});

async function eventually(
  condition: () => Promise<boolean> | boolean,
  what: string,
  ms = 5000,
): Promise<void> {
  for (const started = Date.now(); !(await condition()); ) {
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The coordination sessions' backends holding an advisory lock in `mode`. */
async function advisoryHolders(mode: "ShareLock" | "ExclusiveLock"): Promise<number[]> {
  const { rows } = await server.query(
    "SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory' AND mode = $1 AND granted",
    [mode],
  );
  return rows.map((row) => (row as { pid: number }).pid);
}

describe("postgres: what only a cluster has", () => {
  test("the other node is upstream-state's: separate upstreams stay apart", async () => {
    const [a, b] = await two({ now: () => Date.now() });
    await a.upstreamState("hub").backOff(60, "429");
    assert.equal(await b.upstreamState("ghcr").backoffRemaining(), 0);
    assert.ok((await b.upstreamState("hub").backoffRemaining()) > 58);
  });

  test("an upload lease that its node stopped renewing runs out, and the late release frees nothing", async () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    const [a, b] = await two({ now: () => now });
    const dead = await a.uploadLock.tryLock("session");
    assert.ok(dead);
    assert.equal(await b.uploadLock.tryLock("session"), undefined);
    now += 30_001;
    const taken = await b.uploadLock.tryLock("session");
    assert.ok(taken, "the expired lease is taken over");
    await dead.release();
    assert.equal(
      await a.uploadLock.tryLock("session"),
      undefined,
      "the old holder's release freed the new lease",
    );
    await taken.release();
  });

  test("a lease is renewed while held, so a long request keeps it", async () => {
    const { nodes } = await cluster(2, undefined, { uploadLeaseMs: 300 });
    const [a, b] = nodes as [PostgresCoordination, PostgresCoordination];
    const lease = await a.uploadLock.tryLock("long");
    assert.ok(lease);
    await new Promise((resolve) => setTimeout(resolve, 900));
    assert.equal(await b.uploadLock.tryLock("long"), undefined);
    await lease.release();
    assert.ok(await b.uploadLock.tryLock("long"));
  });

  test("nodes starting together all get the one signing key that was kept", async () => {
    const { nodes } = await cluster(6);
    const keys = await Promise.all(nodes.map((node) => node.signingKey.privateKeyPem()));
    assert.equal(new Set(keys).size, 1);
    assert.match(keys[0] ?? "", /^-----BEGIN PRIVATE KEY-----/);
  });

  test("the ingest guard across nodes: a removal on one node is refused while another ingests", async () => {
    const [a, b] = await two({ now: () => Date.now() });
    const digest = `sha256:${"1".repeat(64)}`;
    let release = () => {};
    const ingest = ingesting(a.ingests, digest, () => new Promise<void>((resolve) => (release = resolve)));
    await eventually(async () => (await advisoryHolders("ShareLock")).length === 1, "the shared lock taken");
    let removed = false;
    assert.equal(
      await b.ingests.remove(digest, async () => {
        removed = true;
      }),
      false,
    );
    assert.equal(removed, false);
    assert.equal(
      await b.ingests.remove(`sha256:${"2".repeat(64)}`, async () => {}),
      true,
      "other digests go on",
    );
    release();
    await ingest;
    // The release lets go of the lock on its way out, a moment after the ingest ended.
    await eventually(
      () =>
        b.ingests.remove(digest, async () => {
          removed = true;
        }),
      "the removal allowed once the ingest ended",
    );
    assert.equal(removed, true);
  });

  test("an ingest on one node waits for a removal running on another", async () => {
    const [a, b] = await two({ now: () => Date.now() });
    const digest = `sha256:${"3".repeat(64)}`;
    const events: string[] = [];
    let finish = () => {};
    const removal = b.ingests.remove(digest, async () => {
      events.push("remove starts");
      await new Promise<void>((resolve) => (finish = resolve));
      events.push("remove ends");
    });
    await eventually(() => events.length === 1, "the removal running");
    const ingest = ingesting(a.ingests, digest, async () => {
      events.push("ingest");
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.deepEqual(events, ["remove starts"]);
    finish();
    assert.equal(await removal, true);
    await ingest;
    assert.deepEqual(events, ["remove starts", "remove ends", "ingest"]);
  });

  test("a node that dies lets go of its ingests' locks; one whose connection is cut takes them again", async () => {
    const [a, b] = await two({ now: () => Date.now() });
    const digest = `sha256:${"4".repeat(64)}`;
    const heard: Note[] = [];
    const news = a.invalidations<Note>("news", { everything: true });
    await news.listening;
    news.subscribe((change) => heard.push(change));
    let release = () => {};
    const ingest = ingesting(a.ingests, digest, () => new Promise<void>((resolve) => (release = resolve)));
    await eventually(async () => (await advisoryHolders("ShareLock")).length === 1, "the shared lock taken");
    const [holder] = await advisoryHolders("ShareLock");
    await server.query("SELECT pg_terminate_backend($1)", [holder]);
    await eventually(async () => {
      const now = await advisoryHolders("ShareLock");
      return now.length === 1 && now[0] !== holder;
    }, "the reconnected session holding the lock again");
    assert.deepEqual(heard, [{ everything: true }], "listeners hear that they may have missed changes");
    assert.equal(await b.ingests.remove(digest, async () => {}), false);
    await a.close();
    assert.equal(await b.ingests.remove(digest, async () => {}), true, "a closed (dead) node holds nothing");
    release();
    await ingest;
  });

  test("the nodes table: nodes join and leave without the others restarting; a silent one expires", async () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    const { nodes } = await cluster(3, { now: () => now });
    const [a, b, c] = nodes as [PostgresCoordination, PostgresCoordination, PostgresCoordination];
    await a.nodes.join("http://127.0.0.1:1");
    await b.nodes.join("http://127.0.0.1:2");
    assert.deepEqual(
      (await c.nodes.live()).map((node) => [node.id, node.url]),
      [
        ["node-0", "http://127.0.0.1:1"],
        ["node-1", "http://127.0.0.1:2"],
      ],
    );
    await c.nodes.join("http://127.0.0.1:3");
    await a.nodes.leave();
    assert.deepEqual(
      (await b.nodes.live()).map((node) => node.id),
      ["node-1", "node-2"],
    );
    now += 15_001;
    assert.deepEqual(await b.nodes.live(), [], "nobody beat within three heartbeats");
  });

  test("a change to users or tokens, by any writer, reaches every node's auth invalidations", async () => {
    const { url, nodes } = await cluster(2);
    const store = await PostgresAuthStore.open({ url, maxConnections: 2 });
    try {
      const heard: string[] = [];
      for (const node of nodes) {
        const invalidations = node.invalidations(TOPICS.auth, "auth" as const);
        await invalidations.listening;
        invalidations.subscribe((change) => heard.push(change));
      }
      // The store publishes nothing itself: the tables' trigger does, whoever writes.
      await store.putUser({ name: "alice", passwordHash: "x", admin: false, groups: [], createdAt: 1 });
      await eventually(() => heard.length === 2, "both nodes told");
      await store.createToken({
        id: "t1",
        user: "alice",
        secretHash: "h",
        description: "",
        scopes: [],
        expiresAt: undefined,
        revokedAt: undefined,
        createdAt: 1,
      });
      await store.revokeToken("t1", 2);
      await eventually(() => heard.length === 6, "both nodes told of both token writes");
      assert.deepEqual(new Set(heard), new Set(["auth"]));
    } finally {
      await store.close();
    }
  });

  test("each node's metadata cache hears another node's writes at once", async () => {
    schemas += 1;
    const url = await server.schemaUrl(`coordination_${schemas}`);
    const open = async () =>
      openStores(
        {
          dataDir: join(makeTempDir("node"), "data"),
          limits: { maxBytes: 1024 },
          postgres: { url, maxConnections: 2 },
        },
        pino({ level: "silent" }),
      );
    const a = await open();
    const b = await open();
    try {
      const digest = `sha256:${"5".repeat(64)}`;
      // Node B looks first: "not linked" is cached, for up to 10 s were nobody to tell it.
      assert.equal(await b.meta.hasBlob("hub", "library/x", digest), false);
      assert.equal(await b.meta.hasBlob("hub", "library/x", digest), false);
      await a.meta.linkBlob("hub", "library/x", digest, 10);
      const started = Date.now();
      await eventually(() => b.meta.hasBlob("hub", "library/x", digest), "node B sees node A's link", 2000);
      assert.ok(Date.now() - started < 2000);
      await a.meta.setTag("hub", "library/x", "latest", digest, 1);
      await eventually(
        async () => (await b.meta.getTag("hub", "library/x", "latest"))?.digest === digest,
        "the tag too",
        2000,
      );
    } finally {
      await a.close();
      await b.close();
    }
  });
});
