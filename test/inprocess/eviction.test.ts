// Eviction carried out over real stores in memory: the least recently pulled images leave with
// their files, pinned and hosted content stays, the usage recorder's last minute counts, the
// triggers run it early, and the race it must close (an ingest that finds its digest stored, then
// links it) never ends with a link to a missing file.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import pino from "pino";
import { LocalIngestGuard } from "../../src/coordination/ingest-guard.js";
import type { Turn } from "../../src/coordination/turn.js";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { CacheKeeper } from "../../src/ops/cache-keeper.js";
import type { EvictionPolicy } from "../../src/ops/eviction-plan.js";
import { UsageRecorder } from "../../src/ops/usage.js";
import { appendAll } from "../../src/store/blob-writer.js";
import { ManualClock } from "../fakes/manual-clock.js";
import { MemoryBlobStore } from "../fakes/memory-blob-store.js";
import { MemoryMetadataStore } from "../fakes/memory-metadata-store.js";

const KiB = 1024;
const MINUTE = 60_000;

/** A latch: a promise and the function that settles it. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

interface Image {
  readonly manifest: string;
  readonly layers: readonly string[];
}

class Scene {
  readonly clock = new ManualClock();
  readonly meta = new MemoryMetadataStore(this.clock);
  readonly blobs = new MemoryBlobStore({ clock: this.clock });
  readonly ingests = new LocalIngestGuard();
  readonly usage = new UsageRecorder({ meta: this.meta, flushIntervalMs: MINUTE, clock: this.clock });
  readonly logs: Array<Record<string, unknown>> = [];
  readonly logger = pino({ level: "info" }, { write: (line: string) => this.logs.push(JSON.parse(line)) });

  async put(digest: string, bytes: Buffer): Promise<void> {
    const writer = await this.blobs.begin();
    await appendAll(writer, bytes);
    await writer.commit(digest);
  }

  /** An image in `repo`: layers of `sizes` bytes (a layer labelled like another image's is shared), a manifest, a tag. */
  async image(
    repo: string,
    name: string,
    tag: string,
    layers: ReadonlyArray<readonly [string, number]>,
  ): Promise<Image> {
    const digests: string[] = [];
    for (const [label, size] of layers) {
      const bytes = Buffer.alloc(size, label);
      const digest = digestOf(bytes);
      await this.put(digest, bytes);
      await this.meta.linkBlob(repo, name, digest, size);
      digests.push(digest);
    }
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, name, tag, layers: digests }));
    const manifest = digestOf(bytes);
    await this.put(manifest, bytes);
    await this.meta.putManifest(repo, name, {
      digest: manifest,
      mediaType: MediaType.ociManifest,
      size: bytes.byteLength,
      references: digests,
    });
    await this.meta.setTag(repo, name, tag, manifest, this.clock.now());
    return { manifest, layers: digests };
  }

  /** Whether the image still pulls: its tag, its manifest and every layer, linked and on disk. */
  async intact(repo: string, name: string, tag: string, image: Image): Promise<boolean> {
    if ((await this.meta.getTag(repo, name, tag))?.digest !== image.manifest) return false;
    if (!(await this.meta.getManifest(repo, name, image.manifest))) return false;
    if ((await this.blobs.stat(image.manifest)) === undefined) return false;
    for (const layer of image.layers) {
      if (!(await this.meta.hasBlob(repo, name, layer))) return false;
      if ((await this.blobs.stat(layer)) === undefined) return false;
    }
    return true;
  }

  /** Whether no trace is left: neither metadata nor file (for digests nothing else uses). */
  async gone(repo: string, name: string, image: Image): Promise<boolean> {
    if (await this.meta.getManifest(repo, name, image.manifest)) return false;
    for (const layer of image.layers) if (await this.meta.hasBlob(repo, name, layer)) return false;
    return (await this.blobs.stat(image.manifest)) === undefined;
  }

  keeper(
    policy: Partial<EvictionPolicy>,
    proxies: Record<string, readonly string[]>,
    options: {
      freeSpace?: () => Promise<number>;
      events?: ConstructorParameters<typeof CacheKeeper>[0]["events"];
      turn?: Turn;
    } = {},
  ): CacheKeeper {
    return new CacheKeeper({
      meta: this.meta,
      blobs: this.blobs,
      ingests: this.ingests,
      scope: {
        policy: { lowWater: 0.9, repositories: new Map(), ...policy },
        proxies: new Map(Object.entries(proxies)),
      },
      dataDir: "/nowhere",
      checkIntervalMs: MINUTE,
      usage: this.usage,
      freeSpace: options.freeSpace ?? (async () => 1e12),
      clock: this.clock,
      logger: this.logger,
      triggerGapMs: 0,
      ...(options.events ? { events: options.events } : {}),
      ...(options.turn ? { turn: options.turn } : {}),
    });
  }
}

describe("eviction over the stores", () => {
  test("a node that finds another node's eviction running leaves it the run; with the turn, it evicts", async () => {
    const scene = new Scene();
    const image = await scene.image("hub", "library/old", "1", [["layer", 40 * KiB]]);
    const policy = { repositories: new Map([["hub", { maxSize: 10 * KiB }]]) };
    let othersRun = true;
    const turn: Turn = {
      async ifAlone(work) {
        if (othersRun) return false;
        await work();
        return true;
      },
    };
    const skipped = await scene.keeper(policy, { hub: [] }, { turn }).run();
    assert.equal(skipped.plan, undefined);
    assert.deepEqual(skipped.carried, []);
    assert.equal(await scene.intact("hub", "library/old", "1", image), true);
    othersRun = false;
    const run = await scene.keeper(policy, { hub: [] }, { turn }).run();
    assert.deepEqual(
      run.carried.map((done) => done.eviction.image.name),
      ["library/old"],
    );
    assert.equal(await scene.gone("hub", "library/old", image), true);
  });

  test("a repository over its cap loses its least recently pulled images; pinned, hosted and shared content stays", async () => {
    const scene = new Scene();
    const old = await scene.image("hub", "library/old", "1", [
      ["old-layer", 40 * KiB],
      ["base", 20 * KiB],
    ]);
    scene.clock.advance(MINUTE);
    const pinned = await scene.image("hub", "library/postgres", "16", [["pg-layer", 40 * KiB]]);
    scene.clock.advance(MINUTE);
    const recent = await scene.image("hub", "library/recent", "1", [
      ["recent-layer", 40 * KiB],
      ["base", 20 * KiB],
    ]);
    const hosted = await scene.image("internal", "app", "1", [["old-layer", 40 * KiB]]);
    // `old` was cached first but pulled last, within the recorder's unflushed minute.
    scene.clock.advance(MINUTE);
    scene.usage.manifestServed("hub", "library/old", old.manifest, { tag: "1", counted: true });
    scene.clock.advance(MINUTE);
    const evicted: string[] = [];
    const keeper = scene.keeper(
      { repositories: new Map([["hub", { maxSize: 120 * KiB }]]) },
      { hub: ["library/postgres"] },
      { events: { evicted: (done) => evicted.push(`${done.eviction.image.name} ${done.bytes}`) } },
    );
    const run = await keeper.run();
    assert.deepEqual(
      run.plan?.evictions.map((e) => e.image.name),
      ["library/recent"],
      "the pull the recorder held made `old` the most recent",
    );
    assert.equal(await scene.gone("hub", "library/recent", recent), true);
    assert.equal(await scene.blobs.stat(digestOf(Buffer.alloc(40 * KiB, "recent-layer"))), undefined);
    assert.notEqual(
      await scene.blobs.stat(digestOf(Buffer.alloc(20 * KiB, "base"))),
      undefined,
      "old still needs base",
    );
    assert.equal(await scene.intact("hub", "library/old", "1", old), true);
    assert.equal(await scene.intact("hub", "library/postgres", "16", pinned), true);
    assert.equal(await scene.intact("internal", "app", "1", hosted), true);
    assert.ok((run.snapshot.repositories.hub ?? 0) <= 0.9 * 120 * KiB, `${run.snapshot.repositories.hub}`);
    const freed = run.carried.reduce((sum, carried) => sum + carried.bytes, 0);
    assert.equal(evicted.length, 1);
    assert.equal(evicted[0], `library/recent ${freed}`);
    const line = scene.logs.find((entry) => entry.msg === "evicted image");
    assert.equal(line?.repo, "hub");
    assert.equal(line?.name, "library/recent");
    assert.deepEqual(line?.tags, ["1"]);
    assert.equal(line?.bytes, freed);
  });

  test("max_unused removes what nobody pulled for that long, and a run within the bounds changes nothing", async () => {
    const scene = new Scene();
    const stale = await scene.image("hub", "stale", "1", [["s", 1 * KiB]]);
    scene.clock.advance(10 * MINUTE);
    const fresh = await scene.image("hub", "fresh", "1", [["f", 1 * KiB]]);
    const keeper = scene.keeper(
      { repositories: new Map([["hub", { maxUnusedMs: 5 * MINUTE }]]) },
      { hub: [] },
    );
    const run = await keeper.run();
    assert.deepEqual(
      run.plan?.evictions.map((e) => [e.image.name, e.reason]),
      [["stale", "unused"]],
    );
    assert.equal(await scene.gone("hub", "stale", stale), true);
    assert.equal(await scene.intact("hub", "fresh", "1", fresh), true);
    // Within the hour, with every bound kept, a run only measures.
    const again = await keeper.run();
    assert.equal(again.plan, undefined);
    assert.deepEqual(again.carried, []);
  });

  test("the store cap and the disk floor evict across repositories; a full disk makes it run at once", async () => {
    const scene = new Scene();
    const a = await scene.image("hub", "a", "1", [["a", 30 * KiB]]);
    scene.clock.advance(MINUTE);
    const b = await scene.image("ghcr", "b", "1", [["b", 30 * KiB]]);
    scene.clock.advance(MINUTE);
    const c = await scene.image("hub", "c", "1", [["c", 30 * KiB]]);
    let free = 1e12;
    const ran = latch();
    const keeper = scene.keeper(
      { minFree: 50 * KiB },
      { hub: [], ghcr: [] },
      { freeSpace: async () => free, events: { measured: () => ran.open() } },
    );
    keeper.start();
    await ran.promise;
    await keeper.stop();
    assert.equal(await scene.intact("hub", "a", "1", a), true, "nothing to do with a roomy disk");
    // The disk fills up (something else wrote to it): the spool failure's trigger runs it.
    free = 10 * KiB;
    const carried: string[] = [];
    const quick = scene.keeper(
      { minFree: 50 * KiB },
      { hub: [], ghcr: [] },
      {
        freeSpace: async () => free,
        events: {
          evicted: (done) => {
            carried.push(done.eviction.image.name);
            free += done.bytes;
          },
        },
      },
    );
    quick.trigger("disk full");
    await quick.run();
    // 10 KiB free; needs 50 / 0.9 ≈ 55.6 KiB: a (oldest) then b.
    assert.deepEqual(carried, ["a", "b"]);
    assert.equal(await scene.gone("hub", "a", a), true);
    assert.equal(await scene.gone("ghcr", "b", b), true);
    assert.equal(await scene.intact("hub", "c", "1", c), true);
    await quick.stop();
  });

  test("a download that stored bytes past the cap makes it run without waiting for the interval", async () => {
    const scene = new Scene();
    await scene.image("hub", "a", "1", [["a", 30 * KiB]]);
    scene.clock.advance(MINUTE);
    const b = await scene.image("hub", "b", "1", [["b", 30 * KiB]]);
    const done = latch();
    const keeper = scene.keeper(
      { maxSize: 80 * KiB },
      { hub: [] },
      { events: { evicted: () => done.open() } },
    );
    await keeper.run();
    assert.equal(keeper.snapshot?.total !== undefined && keeper.snapshot.total < 80 * KiB, true);
    keeper.grew(1 * KiB);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(
      scene.logs.some((entry) => entry.msg === "evicting cached images"),
      false,
      "still under the cap",
    );
    // The download that pushes it past the cap was stored (metadata knows it); the estimate says so at once.
    const c = await scene.image("hub", "c", "1", [["c", 30 * KiB]]);
    keeper.grew(30 * KiB);
    await done.promise;
    await keeper.stop();
    assert.equal(await scene.intact("hub", "b", "1", b), true);
    assert.equal(await scene.intact("hub", "c", "1", c), true);
    assert.ok((keeper.snapshot?.total ?? Number.POSITIVE_INFINITY) <= 0.9 * 80 * KiB);
  });

  test("an ingest that finds its digest stored and then links it is never left with a missing file", async () => {
    const scene = new Scene();
    const cached = await scene.image("hub", "library/base", "1", [["shared-layer", 10 * KiB]]);
    const [layer] = cached.layers as [string];
    const bytes = Buffer.alloc(10 * KiB, "shared-layer");
    const keeper = scene.keeper({ repositories: new Map([["hub", { maxSize: 1 }]]) }, { hub: [] });

    // A push of the same layer to a hosted repository: its commit finds the file and discards the
    // staged copy; the eviction runs after that commit and before the link.
    const committed = latch();
    const linkNow = latch();
    const push = (async () => {
      const lease = await scene.ingests.hold(layer);
      try {
        const writer = await scene.blobs.begin();
        await appendAll(writer, bytes);
        await writer.commit(layer);
        committed.open();
        await linkNow.promise;
        await scene.meta.linkBlob("internal", "app", layer, bytes.byteLength);
      } finally {
        lease.release();
      }
    })();
    await committed.promise;
    const run = await keeper.run();
    assert.deepEqual(
      run.plan?.evictions.map((e) => e.image.name),
      ["library/base"],
    );
    const [carried] = run.carried;
    assert.ok(
      carried?.eviction.files.some((file) => file.digest === layer),
      "the plan freed the layer",
    );
    assert.ok(!carried?.deleted.some((file) => file.digest === layer), "but the ingest kept it");
    linkNow.open();
    await push;
    assert.equal(await scene.meta.hasBlob("internal", "app", layer), true);
    assert.equal(await scene.blobs.stat(layer), bytes.byteLength, "the linked layer's file is there");
    // The next run finds the hosted link and keeps the file for good.
    await keeper.run();
    assert.equal(await scene.blobs.stat(layer), bytes.byteLength);
  });

  test("an ingest that arrives while the file is being deleted waits, then stores its own bytes", async () => {
    const scene = new Scene();
    const cached = await scene.image("hub", "library/base", "1", [["shared-layer", 10 * KiB]]);
    const [layer] = cached.layers as [string];
    const bytes = Buffer.alloc(10 * KiB, "shared-layer");
    // The deletion is slow: the push holds the digest in the middle of it.
    const deleting = latch();
    const finishDelete = latch();
    const slowBlobs = {
      delete: async (digest: string) => {
        if (digest === layer) {
          deleting.open();
          await finishDelete.promise;
        }
        await scene.blobs.delete(digest);
      },
    };
    const keeper = new CacheKeeper({
      meta: scene.meta,
      blobs: slowBlobs,
      ingests: scene.ingests,
      scope: {
        policy: { lowWater: 0.9, repositories: new Map([["hub", { maxSize: 1 }]]) },
        proxies: new Map([["hub", []]]),
      },
      dataDir: "/nowhere",
      checkIntervalMs: MINUTE,
      freeSpace: async () => 1e12,
      clock: scene.clock,
      logger: scene.logger,
    });
    const running = keeper.run();
    await deleting.promise;
    const push = (async () => {
      const lease = await scene.ingests.hold(layer);
      try {
        const writer = await scene.blobs.begin();
        await appendAll(writer, bytes);
        await writer.commit(layer);
        await scene.meta.linkBlob("internal", "app", layer, bytes.byteLength);
      } finally {
        lease.release();
      }
    })();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(
      await scene.meta.hasBlob("internal", "app", layer),
      false,
      "the push waited for the deletion",
    );
    finishDelete.open();
    await running;
    await push;
    assert.equal(await scene.meta.hasBlob("internal", "app", layer), true);
    assert.equal(await scene.blobs.stat(layer), bytes.byteLength, "the push stored its own bytes");
  });
});
