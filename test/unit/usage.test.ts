// The usage recorder: pulls add up in memory and reach the metadata store only when it flushes, in
// one batch; a failed write keeps them for the next flush; stop writes what is left.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { UsageBatch } from "../../src/meta/metadata-store.js";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { UsageRecorder } from "../../src/ops/usage.js";
import { ManualClock } from "../fakes/manual-clock.js";
import { MemoryMetadataStore } from "../fakes/memory-metadata-store.js";

const REPO = "hub";
const NAME = "library/busybox";
const IMAGE = digestOf(Buffer.from("image"));
const LAYER = digestOf(Buffer.from("layer"));

async function scene() {
  const clock = new ManualClock();
  const meta = new MemoryMetadataStore(clock);
  await meta.putManifest(REPO, NAME, {
    digest: IMAGE,
    mediaType: MediaType.ociManifest,
    size: 10,
    references: [LAYER],
  });
  await meta.setTag(REPO, NAME, "latest", IMAGE, clock.now());
  await meta.linkBlob(REPO, NAME, LAYER, 100);
  return { clock, meta };
}

async function usageOf(meta: MemoryMetadataStore) {
  const content = await meta.listContent(REPO);
  return {
    manifest: content.manifests.map((m) => [m.pulls, m.lastPulledAt]),
    tag: content.tags.map((t) => [t.pulls, t.lastPulledAt]),
    blob: content.blobs.map((b) => b.lastServedAt),
  };
}

describe("UsageRecorder", () => {
  test("pulls add up in memory and are written in one batch when it flushes", async () => {
    const { clock, meta } = await scene();
    const batches: UsageBatch[] = [];
    const recorder = new UsageRecorder({
      meta: {
        recordUsage: (batch) => {
          batches.push(batch);
          return meta.recordUsage(batch);
        },
      },
      flushIntervalMs: 60_000,
      clock,
    });
    const t0 = clock.now();
    recorder.manifestServed(REPO, NAME, IMAGE, { tag: "latest", counted: true });
    clock.advance(1000);
    recorder.manifestServed(REPO, NAME, IMAGE, { counted: true });
    recorder.blobServed(REPO, NAME, LAYER);
    clock.advance(1000);
    // A HEAD marks the image as used without counting a pull.
    recorder.manifestServed(REPO, NAME, IMAGE, { tag: "latest", counted: false });
    assert.equal(recorder.pending, 3);
    assert.deepEqual(await usageOf(meta), {
      manifest: [[0, undefined]],
      tag: [[0, undefined]],
      blob: [undefined],
    });

    await recorder.flush();
    assert.equal(batches.length, 1);
    assert.equal(recorder.pending, 0);
    assert.deepEqual(await usageOf(meta), {
      manifest: [[2, t0 + 2000]],
      tag: [[1, t0 + 2000]],
      blob: [t0 + 1000],
    });
    await recorder.flush();
    assert.equal(batches.length, 1, "nothing pending, nothing written");
  });

  test("a batch that cannot be written is kept and added to the next one", async () => {
    const { clock, meta } = await scene();
    let failures = 1;
    const recorder = new UsageRecorder({
      meta: {
        recordUsage: async (batch) => {
          if (failures-- > 0) throw new Error("database is locked");
          await meta.recordUsage(batch);
        },
      },
      flushIntervalMs: 60_000,
      clock,
    });
    recorder.manifestServed(REPO, NAME, IMAGE, { counted: true });
    await recorder.flush();
    assert.equal(recorder.pending, 1);
    clock.advance(5000);
    recorder.manifestServed(REPO, NAME, IMAGE, { counted: true });
    await recorder.flush();
    assert.deepEqual((await usageOf(meta)).manifest, [[2, clock.now()]]);
  });

  test("it flushes every interval once started, and stop writes what is left", async (t) => {
    t.mock.timers.enable({ apis: ["setInterval"] });
    const { clock, meta } = await scene();
    const recorder = new UsageRecorder({ meta, flushIntervalMs: 60_000, clock });
    recorder.start();
    recorder.manifestServed(REPO, NAME, IMAGE, { counted: true });
    t.mock.timers.tick(59_999);
    assert.equal(recorder.pending, 1, "not yet a minute");
    t.mock.timers.tick(1);
    await recorder.flush();
    assert.deepEqual((await usageOf(meta)).manifest, [[1, clock.now()]]);
    recorder.manifestServed(REPO, NAME, IMAGE, { counted: true });
    await recorder.stop();
    assert.equal(recorder.pending, 0);
    assert.deepEqual((await usageOf(meta)).manifest, [[2, clock.now()]]);
  });
});
