// Garbage collection over the in-memory metadata store: a run's metadata deletions commit as one
// transaction before any file goes, and a failure inside it leaves metadata and files as they were.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { MetadataTransaction } from "../../src/meta/metadata-store.js";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { collectGarbage, type SweptBlobs } from "../../src/ops/gc.js";
import { MemoryMetadataStore } from "../fakes/memory-metadata-store.js";

const T0 = Date.parse("2024-06-01T00:00:00Z");
const HOUR = 3_600_000;
const digest = (label: string) => digestOf(Buffer.from(label));

/** Records, in order, what reaches the store from outside and when a transaction commits. */
class RecordingStore extends MemoryMetadataStore {
  readonly events: string[] = [];
  /** Makes the handle of the next transactions throw on this many-th write. */
  failOnWrite: number | undefined;

  constructor() {
    super({ now: () => T0 });
  }

  override async transaction<T>(work: (tx: MetadataTransaction) => Promise<T>): Promise<T> {
    const result = await super.transaction((tx) => work(this.#failing(tx)));
    this.events.push("commit");
    return result;
  }

  override deleteManifest(repo: string, name: string, digest: string): Promise<boolean> {
    this.events.push("deleteManifest outside a transaction");
    return super.deleteManifest(repo, name, digest);
  }

  override unlinkBlob(repo: string, name: string, digest: string): Promise<boolean> {
    this.events.push("unlinkBlob outside a transaction");
    return super.unlinkBlob(repo, name, digest);
  }

  #failing(tx: MetadataTransaction): MetadataTransaction {
    let writes = 0;
    const failOn = this.failOnWrite;
    const counted =
      <A extends unknown[], R>(write: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        if (++writes === failOn) throw new Error("disk full");
        return write(...args);
      };
    return Object.assign(Object.create(tx) as MetadataTransaction, {
      deleteManifest: counted(tx.deleteManifest.bind(tx)),
      unlinkBlob: counted(tx.unlinkBlob.bind(tx)),
    });
  }
}

/** Files by digest, all stored at T0; deletions are recorded in the store's event list. */
function blobsOf(store: RecordingStore, digests: string[]): SweptBlobs & { files: Set<string> } {
  const files = new Set(digests);
  return {
    files,
    async *digests() {
      yield* [...files];
    },
    async storedAt(d) {
      return files.has(d) ? T0 : undefined;
    },
    async stat(d) {
      return files.has(d) ? 10 : undefined;
    },
    async delete(d) {
      store.events.push(`delete ${d}`);
      files.delete(d);
    },
  };
}

/**
 * internal/app holds a tagged image and an untagged one; hub/x links a blob no manifest needs.
 * With --untagged, GC removes the untagged manifest, the links of its layer and of the stray
 * blob, then those files.
 */
async function scene() {
  const store = new RecordingStore();
  const kept = { digest: digest("kept"), layer: digest("kept-layer") };
  const doomed = { digest: digest("doomed"), layer: digest("doomed-layer") };
  const stray = digest("stray");
  for (const image of [kept, doomed]) {
    await store.putManifest("internal", "app", {
      digest: image.digest,
      mediaType: MediaType.ociManifest,
      size: 10,
      references: [image.layer],
    });
    await store.linkBlob("internal", "app", image.layer, 10);
  }
  await store.setTag("internal", "app", "1", kept.digest, T0);
  await store.linkBlob("hub", "x", stray, 10);
  const blobs = blobsOf(store, [kept.digest, kept.layer, doomed.digest, doomed.layer, stray]);
  const options = { dryRun: false, untaggedIn: ["internal"], graceMs: HOUR, now: T0 + 2 * HOUR };
  return { store, blobs, kept, doomed, stray, options };
}

describe("collectGarbage", () => {
  test("the metadata deletions of a run commit as one transaction, before any file is deleted", async () => {
    const { store, blobs, kept, doomed, stray, options } = await scene();
    const report = await collectGarbage(store, blobs, options);
    assert.deepEqual(report.manifests, [{ repo: "internal", name: "app", digest: doomed.digest }]);
    assert.deepEqual(report.links.map((link) => link.digest).sort(), [doomed.layer, stray].sort());
    assert.deepEqual(store.events[0], "commit", store.events.join("\n"));
    assert.deepEqual(
      store.events.slice(1).sort(),
      [doomed.digest, doomed.layer, stray].map((d) => `delete ${d}`).sort(),
    );
    assert.deepEqual([...blobs.files].sort(), [kept.digest, kept.layer].sort());
    assert.equal(await store.getManifest("internal", "app", doomed.digest), undefined);
    assert.deepEqual(
      (await store.listBlobLinks()).map((link) => link.digest),
      [kept.layer],
    );
  });

  test("a failure inside the transaction leaves every manifest, link and file in place", async () => {
    const { store, blobs, options } = await scene();
    const nodes = await store.listManifestNodes("internal");
    const links = await store.listBlobLinks();
    const files = [...blobs.files];
    // The third write: after the manifest and one link went, inside the transaction.
    store.failOnWrite = 3;
    await assert.rejects(collectGarbage(store, blobs, options), /disk full/);
    assert.deepEqual(await store.listManifestNodes("internal"), nodes);
    assert.deepEqual(await store.listBlobLinks(), links);
    assert.deepEqual([...blobs.files], files);
    assert.deepEqual(store.events, []);
  });

  test("a dry run reports the same and changes nothing", async () => {
    const { store, blobs, options } = await scene();
    const wet = await scene();
    const planned = await collectGarbage(store, blobs, { ...options, dryRun: true });
    assert.deepEqual(store.events, []);
    assert.equal(blobs.files.size, 5);
    assert.deepEqual(planned, await collectGarbage(wet.store, wet.blobs, wet.options));
  });
});
