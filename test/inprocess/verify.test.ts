// verify over the stores in memory: a file whose bytes are not its digest's and a link whose file
// is gone are both found; --repair quarantines the first, forgets both, names what they damaged,
// and a second run finds nothing; a file evicted while verify runs is no problem.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { verifyStore } from "../../src/ops/verify.js";
import { appendAll } from "../../src/store/blob-writer.js";
import { MemoryBlobStore } from "../fakes/memory-blob-store.js";
import { MemoryMetadataStore } from "../fakes/memory-metadata-store.js";

async function scene() {
  const meta = new MemoryMetadataStore();
  const blobs = new MemoryBlobStore();
  const put = async (bytes: Buffer) => {
    const digest = digestOf(bytes);
    const writer = await blobs.begin();
    await appendAll(writer, bytes);
    await writer.commit(digest);
    return digest;
  };
  const good = await put(Buffer.from("good layer"));
  const damaged = await put(Buffer.from("layer to damage"));
  const lost = await put(Buffer.from("layer to lose"));
  const manifestBytes = Buffer.from(JSON.stringify({ layers: [good, damaged, lost] }));
  const manifest = await put(manifestBytes);
  for (const repo of ["hub", "internal"]) {
    await meta.putManifest(repo, "app", {
      digest: manifest,
      mediaType: MediaType.ociManifest,
      size: manifestBytes.byteLength,
      references: [good, damaged, lost],
    });
    await meta.setTag(repo, "app", "1", manifest, Date.now());
    for (const layer of [good, damaged, lost]) await meta.linkBlob(repo, "app", layer, 10);
  }
  // The disk flips bits in one file and loses another.
  const entry = blobs.volume.blobs.get(damaged);
  assert.ok(entry);
  blobs.volume.blobs.set(damaged, { ...entry, bytes: Buffer.from("layer to damagE") });
  await blobs.delete(lost);
  return { meta, blobs, good, damaged, lost, manifest };
}

describe("verifyStore", () => {
  test("without --repair: reports a corrupt file and a missing one with who holds them, changes nothing", async () => {
    const { meta, blobs, damaged, lost } = await scene();
    const report = await verifyStore(meta, blobs, { repair: false });
    assert.equal(report.files, 3);
    assert.deepEqual(
      report.problems.map((p) => [
        p.kind,
        p.digest,
        p.actual,
        p.holders.map((h) => `${h.repo}/${h.name} ${h.as}`).sort(),
      ]),
      [
        ["corrupt", damaged, digestOf(Buffer.from("layer to damagE")), ["hub/app blob", "internal/app blob"]],
        ["missing", lost, undefined, ["hub/app blob", "internal/app blob"]],
      ],
    );
    assert.deepEqual(report.damaged, []);
    assert.equal(await meta.hasBlob("hub", "app", damaged), true);
    assert.notEqual(await blobs.stat(damaged), undefined);
  });

  test("--repair quarantines the corrupt file, forgets both digests, names the manifests they damaged; then all is well", async () => {
    const { meta, blobs, good, damaged, lost, manifest } = await scene();
    const seen: string[] = [];
    const report = await verifyStore(meta, blobs, { repair: true, onProblem: (p) => seen.push(p.digest) });
    assert.deepEqual(seen, [damaged, lost]);
    const [corrupt, missing] = report.problems;
    assert.match(corrupt?.repaired?.quarantinedTo ?? "", /quarantine/);
    assert.deepEqual([corrupt?.repaired?.links, corrupt?.repaired?.manifests], [2, 0]);
    assert.deepEqual([missing?.repaired?.quarantinedTo, missing?.repaired?.links], [undefined, 2]);
    assert.equal(await blobs.stat(damaged), undefined);
    assert.equal([...blobs.volume.quarantined.values()][0]?.toString(), "layer to damagE");
    for (const repo of ["hub", "internal"]) {
      assert.equal(await meta.hasBlob(repo, "app", damaged), false);
      assert.equal(await meta.hasBlob(repo, "app", lost), false);
      assert.equal(await meta.hasBlob(repo, "app", good), true);
    }
    assert.deepEqual(
      report.damaged.map((d) => [d.repo, d.manifest, [...d.lost].sort()]),
      [
        ["hub", manifest, [damaged, lost].sort()],
        ["internal", manifest, [damaged, lost].sort()],
      ],
    );
    const again = await verifyStore(meta, blobs, { repair: false });
    assert.deepEqual(again.problems, []);
  });

  test("a file evicted between the listing and its check is not reported", async () => {
    const meta = new MemoryMetadataStore();
    const blobs = new MemoryBlobStore();
    const bytes = Buffer.from("evicted meanwhile");
    const digest = digestOf(bytes);
    const writer = await blobs.begin();
    await appendAll(writer, bytes);
    await writer.commit(digest);
    await meta.linkBlob("hub", "x", digest, bytes.byteLength);
    // An eviction removes the link and the file after verify listed holders, before it stats the file.
    const racing = {
      digests: () => blobs.digests(),
      read: (d: string) => blobs.read(d),
      quarantine: (d: string) => blobs.quarantine(d),
      stat: async (d: string) => {
        await meta.unlinkBlob("hub", "x", d);
        await blobs.delete(d);
        return blobs.stat(d);
      },
    };
    const report = await verifyStore(meta, racing, { repair: true });
    assert.deepEqual(report.problems, []);
  });
});
