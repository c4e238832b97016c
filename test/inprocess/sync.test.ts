// Sync in-process, through a real proxy over the fake upstream: the chosen tags are pulled whole
// (manifest, platform manifests, blobs), an unchanged tag costs one HEAD, a tag newly pushed
// upstream is picked up by the next run, the run pauses while the budget is under the reserve,
// an index is synced for the platforms asked only, and synced pulls count as use, not as pulls.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { configSchema, type SyncConfig } from "../../src/config/schema.js";
import { ImageSync, type SyncJob } from "../../src/ops/sync.js";
import type { ContentObserver } from "../../src/repos/observer.js";
import { ProxyRepository } from "../../src/repos/proxy.js";
import { FakeUpstream } from "../fakes/fake-upstream.js";
import { TTL_MS, type World, world } from "./fixture.js";

const NAME = "library/nginx";

/** A `sync:` entry as the configuration reads it (defaults filled in). */
function entry(fields: Record<string, unknown>): SyncConfig {
  const config = configSchema.parse({
    repositories: {
      hub: { type: "proxy", upstream: { url: "https://upstream.test" }, sync: [{ image: NAME, ...fields }] },
    },
  });
  const hub = config.repositories.hub;
  assert.ok(hub?.type === "proxy" && hub.sync?.[0]);
  return hub.sync[0];
}

function setUp(
  w: World,
  upstream: FakeUpstream,
  fields: Record<string, unknown>,
  observer?: ContentObserver,
) {
  const proxy = new ProxyRepository({
    name: "hub",
    upstream,
    libraryPrefix: false,
    tagTtlMs: TTL_MS,
    meta: w.meta,
    blobs: w.blobs,
    documents: w.documents,
    coalescer: w.coalescer,
    ingests: w.ingests,
    logger: w.logger,
    clock: w.clock,
    ...(observer ? { observer } : {}),
  });
  const job: SyncJob = { repo: "hub", entry: entry(fields) };
  const sync = new ImageSync({
    repositories: new Map([["hub", proxy]]),
    jobs: [job],
    logger: w.logger,
    clock: w.clock,
  });
  return { proxy, job, sync };
}

/** Whether the tag's image is whole in the cache: tag, manifest and every layer linked and stored. */
async function cached(w: World, tag: string, layers: readonly string[]): Promise<boolean> {
  const record = await w.meta.getTag("hub", NAME, tag);
  if (!record || !(await w.meta.getManifest("hub", NAME, record.digest))) return false;
  for (const layer of layers) {
    if (!(await w.meta.hasBlob("hub", NAME, layer)) || (await w.blobs.stat(layer)) === undefined)
      return false;
  }
  return true;
}

describe("sync", () => {
  test("the chosen tags are pulled whole; unchanged, the next run costs a HEAD each; a new tag is picked up", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    const one = upstream.putImage(NAME, "1.26.0", ["a 1.26.0 layer"]);
    const two = upstream.putImage(NAME, "1.26.1", ["a 1.26.1 layer"]);
    upstream.putImage(NAME, "1.25.0", ["not chosen"]);
    const { sync, job } = setUp(w, upstream, { semver: "~1.26", interval: "1h" });
    const first = await sync.run(job);
    assert.equal(first.result, "ok");
    assert.deepEqual([...first.pulled].sort(), ["1.26.0", "1.26.1"]);
    // Two layers and one config: the fake's two configs are the same bytes, fetched once.
    assert.equal(
      first.blobsFetched,
      new Set([one.config, two.config, one.layers[0]?.digest, two.layers[0]?.digest]).size,
    );
    assert.equal(await cached(w, "1.26.0", [one.config, ...one.layers.map((l) => l.digest)]), true);
    assert.equal(await cached(w, "1.26.1", [two.config, ...two.layers.map((l) => l.digest)]), true);
    assert.equal(
      await w.meta.getTag("hub", NAME, "1.25.0"),
      undefined,
      "a tag outside the range is left alone",
    );

    w.clock.advance(TTL_MS + 1);
    const before = upstream.requests.length;
    const second = await sync.run(job);
    const since = upstream.requests.slice(before).map((r) => `${r.method} ${r.path}`);
    assert.deepEqual(second.pulled, []);
    assert.deepEqual(since.filter((r) => r.includes("/manifests/") || r.includes("/blobs/")).sort(), [
      `HEAD /v2/${NAME}/manifests/1.26.0`,
      `HEAD /v2/${NAME}/manifests/1.26.1`,
    ]);

    const three = upstream.putImage(NAME, "1.26.2", ["a 1.26.2 layer"]);
    const third = await sync.run(job);
    assert.deepEqual(third.pulled, ["1.26.2"]);
    assert.equal(await cached(w, "1.26.2", [three.config, ...three.layers.map((l) => l.digest)]), true);
    assert.equal(sync.status().get("hub")?.[0]?.lastRun?.result, "ok");
  });

  test("under the reserve the run pauses before asking upstream anything counted; above it, it runs", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    upstream.putImage(NAME, "stable", ["layer"]);
    const { sync, job } = setUp(w, upstream, { tags: ["stable"], reserve: 20 });
    upstream.reportBudget({ limit: 100, remaining: 19 });
    const paused = await sync.run(job);
    assert.equal(paused.result, "paused");
    assert.match(paused.reason ?? "", /19 pulls left upstream, under the reserve of 20/);
    assert.equal(upstream.count("GET", "/manifests/") + upstream.count("HEAD", "/manifests/"), 0);
    assert.equal(sync.status().get("hub")?.[0]?.lastRun?.result, "paused");
    upstream.reportBudget({
      limit: 100,
      remaining: 80,
      backoffUntil: new Date(w.clock.now() + 60_000).toISOString(),
    });
    assert.equal((await sync.run(job)).result, "paused", "a back-off pauses it too");
    upstream.reportBudget({ limit: 100, remaining: 80 });
    const ran = await sync.run(job);
    assert.deepEqual([ran.result, ran.pulled], ["ok", ["stable"]]);
  });

  test("a budget that runs low during a run pauses it before the next tag", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    upstream.putImage(NAME, "one", ["first"]);
    upstream.putImage(NAME, "two", ["second"]);
    // Each manifest GET spends the budget, as Docker Hub counts them.
    let remaining = 20;
    const observer: ContentObserver = {
      manifestServed: () => {},
      blobServed: () => {},
      fetched: (_repo, kind) => {
        if (kind === "manifest") upstream.reportBudget({ limit: 100, remaining: --remaining });
      },
      cacheFailed: () => {},
    };
    const { sync, job } = setUp(w, upstream, { tags: ["one", "two"], reserve: 20 }, observer);
    const run = await sync.run(job);
    assert.deepEqual([run.result, run.pulled, run.tags], ["paused", ["one"], 1]);
    assert.equal(upstream.count("GET", "/manifests/two"), 0);
  });

  test("an index is synced for the platforms asked only", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    const amd64 = upstream.putImage(NAME, undefined, ["amd64 layer"]);
    const arm64 = upstream.putImage(NAME, undefined, ["arm64 layer"]);
    const index = upstream.putIndex(NAME, "latest", [amd64, arm64]);
    const { sync, job } = setUp(w, upstream, { tags: ["latest"], platforms: ["linux/arm64"] });
    const run = await sync.run(job);
    assert.equal(run.result, "ok");
    assert.ok(await w.meta.getManifest("hub", NAME, index.digest));
    assert.ok(await w.meta.getManifest("hub", NAME, arm64.digest));
    assert.equal(await w.meta.getManifest("hub", NAME, amd64.digest), undefined);
    assert.equal(upstream.count("GET", `/blobs/${arm64.layers[0]?.digest}`), 1);
    assert.equal(upstream.count("GET", `/blobs/${amd64.layers[0]?.digest}`), 0);
  });

  test("a synced image counts as used, but no pull is counted; a tag upstream does not have fails the run", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    upstream.putImage(NAME, "stable", ["layer"]);
    const counted: boolean[] = [];
    const observer: ContentObserver = {
      manifestServed: (_repo, _name, _digest, how) => counted.push(how.counted),
      blobServed: () => {},
      fetched: () => {},
      cacheFailed: () => {},
    };
    const { sync, job } = setUp(w, upstream, { tags: ["stable", "gone"] }, observer);
    const run = await sync.run(job);
    assert.deepEqual(counted, [false]);
    assert.equal(run.result, "failed");
    assert.match(run.reason ?? "", /^gone: /);
    assert.deepEqual(run.pulled, ["stable"]);
  });
});
