// A repository's content read a slice of names at a time, over the in-memory metadata store: the
// slices add up to the whole (blob-only names included), no name is split, and eviction's plan
// read through them is the plan read whole, for a repository of more names than one slice holds.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { MetadataStore, RepositoryContent } from "../../src/meta/metadata-store.js";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { cachedImages, digestsHeldBy } from "../../src/ops/cached-images.js";
import { contentSlices, NAMES_PER_SLICE } from "../../src/ops/content-slices.js";
import { readEvictionInput } from "../../src/ops/eviction.js";
import { MemoryMetadataStore } from "../fakes/memory-metadata-store.js";

const digest = (label: string) => digestOf(Buffer.from(label));

/** `count` names `app-0000`…, each an image (manifest, tag, layer); every third also a blob no manifest references. */
async function repositoryOf(meta: MetadataStore, repo: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const name = `app-${String(i).padStart(4, "0")}`;
    const layer = digest(`${repo}/${name}-layer`);
    const image = digest(`${repo}/${name}-image`);
    await meta.linkBlob(repo, name, layer, 1000 + i);
    await meta.putManifest(repo, name, {
      digest: image,
      mediaType: MediaType.ociManifest,
      size: 100,
      references: [layer],
    });
    await meta.setTag(repo, name, "latest", image, 1);
    if (i % 3 === 0) await meta.linkBlob(repo, name, digest(`${repo}/${name}-loose`), 10);
  }
  await meta.linkBlob(repo, "zz-blobs-only", digest(`${repo}/lone`), 5);
}

const rowKeys = (content: RepositoryContent) =>
  [
    ...content.manifests.map((m) => `m ${m.name} ${m.digest}`),
    ...content.tags.map((t) => `t ${t.name} ${t.tag}`),
    ...content.blobs.map((b) => `b ${b.name} ${b.digest}`),
  ].sort();

test("the slices of a repository's content are the whole of it, each name in one slice", async () => {
  const meta = new MemoryMetadataStore();
  await repositoryOf(meta, "hub", 7);
  const slices: RepositoryContent[] = [];
  for await (const slice of contentSlices(meta, "hub", 3)) slices.push(slice);
  assert.equal(slices.length, 3, "7 names with manifests, 3 at a time");
  const namesIn = slices.map(
    (slice) => new Set([...slice.manifests, ...slice.tags, ...slice.blobs].map((r) => r.name)),
  );
  for (const [i, names] of namesIn.entries())
    for (const name of names)
      assert.ok(!namesIn.some((other, j) => j !== i && other.has(name)), `${name} is in one slice only`);
  assert.ok(namesIn.at(-1)?.has("zz-blobs-only"), "a name with blobs only is in the slice of its place");
  const together = rowKeys({
    manifests: slices.flatMap((s) => s.manifests),
    tags: slices.flatMap((s) => s.tags),
    blobs: slices.flatMap((s) => s.blobs),
  });
  assert.deepEqual(together, rowKeys(await meta.listContent("hub")));
});

test("eviction's input read in slices is the input read whole, past one slice of names", async () => {
  const meta = new MemoryMetadataStore();
  const count = NAMES_PER_SLICE * 2 + 17;
  await repositoryOf(meta, "hub", count);
  await repositoryOf(meta, "internal", 3);
  const input = await readEvictionInput(
    meta,
    { policy: { repositories: new Map(), lowWater: 0.9 }, proxies: new Map([["hub", ["app-0001:*"]]]) },
    { now: 10 },
  );
  const whole = await meta.listContent("hub");
  assert.deepEqual(input.images, cachedImages("hub", whole, ["app-0001:*"]));
  assert.equal(input.images.filter((image) => image.kind === "image").length, count);
  assert.deepEqual([...input.held].sort(), digestsHeldBy(await meta.listContent("internal")).sort());
  const layer = digest(`hub/app-${String(count - 1).padStart(4, "0")}-layer`);
  assert.equal(input.sizes.get(layer), 1000 + count - 1, "the last slice's sizes are in");
});
