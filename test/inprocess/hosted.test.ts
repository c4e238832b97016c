// HostedRepository in-process: uploads, manifest pushes (refused while something they reference is
// missing), tags, deletes (and allow_delete: false), mounts only of what the source holds itself.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { toOciError } from "../../src/http/error-mapping.js";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import type { HostedRepository } from "../../src/repos/hosted.js";
import {
  DigestMismatchError,
  InvalidContentError,
  MissingReferenceError,
  NotFoundError,
  UnsupportedError,
  UploadOutOfOrderError,
} from "../../src/util/errors.js";
import { bytesOf, digest, GET, HEAD, hostedOf, tag, world } from "./fixture.js";

const CONFIG = Buffer.from('{"architecture":"amd64","os":"linux"}');
const LAYER = Buffer.from("layer bytes, pushed in two chunks");

async function push(repository: HostedRepository, name: string, bytes: Buffer): Promise<string> {
  const upload = await repository.startUpload(name);
  return (await repository.finishUpload(name, upload.id, digestOf(bytes), Readable.from([bytes]), {})).digest;
}

function manifestOf(config: Buffer, layers: readonly Buffer[]): Buffer {
  const descriptor = (mediaType: string, bytes: Buffer) => ({
    mediaType,
    digest: digestOf(bytes),
    size: bytes.byteLength,
  });
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: descriptor("application/vnd.oci.image.config.v1+json", config),
      layers: layers.map((layer) => descriptor("application/vnd.oci.image.layer.v1.tar", layer)),
    }),
  );
}

/** What the client would hear for `error`. */
const heard = (error: unknown) => toOciError(error)?.code;

describe("hosted: uploads", () => {
  test("a chunked upload: each chunk at the offset, the digest checked, the blob readable", async (t) => {
    const w = await world(t);
    const hosted = hostedOf(w);
    const upload = await hosted.startUpload("app");
    const half = 10;
    const first = await hosted.appendUpload("app", upload.id, Readable.from([LAYER.subarray(0, half)]), {
      start: 0,
      length: half,
    });
    assert.equal(first.offset, half);
    // A chunk that does not continue where the upload stands is refused with the offset to resume from.
    await assert.rejects(
      hosted.appendUpload("app", upload.id, Readable.from([LAYER.subarray(half)]), { start: half + 1 }),
      (error: unknown) => error instanceof UploadOutOfOrderError && error.offset === half,
    );
    assert.equal((await hosted.uploadState("app", upload.id)).offset, half);
    await assert.rejects(
      hosted.finishUpload("app", upload.id, digestOf(Buffer.from("other")), undefined, {}),
      DigestMismatchError,
    );
    const blob = await hosted.finishUpload(
      "app",
      upload.id,
      digestOf(LAYER),
      Readable.from([LAYER.subarray(half)]),
      {
        start: half,
      },
    );
    assert.deepEqual(blob, { digest: digestOf(LAYER), size: LAYER.byteLength });
    assert.ok((await bytesOf(await hosted.openBlob("app", blob.digest))).equals(LAYER));
    assert.deepEqual(await hosted.statBlob("app", blob.digest), {
      size: LAYER.byteLength,
      cache: "hit",
      servedBy: "private",
    });
    await assert.rejects(
      hosted.uploadState("app", upload.id),
      (error: unknown) => heard(error) === "BLOB_UPLOAD_UNKNOWN",
    );
  });

  test("a blob is only where it was pushed: another name or repository does not have it", async (t) => {
    const w = await world(t);
    const hosted = hostedOf(w);
    const blob = await push(hosted, "app", LAYER);
    for (const [repository, name] of [
      [hosted, "other"],
      [hostedOf(w, "elsewhere"), "app"],
    ] as const) {
      await assert.rejects(
        repository.openBlob(name, blob),
        (error: unknown) => heard(error) === "BLOB_UNKNOWN",
      );
      assert.equal(await repository.hasLocalBlob(name, blob), false);
    }
  });
});

describe("hosted: manifests and tags", () => {
  test("a manifest whose blobs are missing is refused; pushed after them it is stored and tagged", async (t) => {
    const w = await world(t);
    const hosted = hostedOf(w);
    const manifest = manifestOf(CONFIG, [LAYER]);
    await push(hosted, "app", CONFIG);
    await assert.rejects(
      hosted.putManifest("app", tag("v1"), manifest, MediaType.ociManifest),
      (error: unknown) => {
        assert.ok(error instanceof MissingReferenceError, String(error));
        assert.equal(heard(error), "MANIFEST_BLOB_UNKNOWN");
        return true;
      },
    );
    await assert.rejects(hosted.getManifest("app", tag("v1"), GET), NotFoundError);
    await push(hosted, "app", LAYER);
    const stored = await hosted.putManifest("app", tag("v1"), manifest, MediaType.ociManifest);
    assert.equal(stored.digest, digestOf(manifest));
    for (const reference of [tag("v1"), digest(stored.digest)]) {
      const got = await hosted.getManifest("app", reference, GET);
      assert.deepEqual([got.digest, got.mediaType, got.cache], [stored.digest, MediaType.ociManifest, "hit"]);
      assert.deepEqual(got.bytes, manifest);
    }
    assert.equal((await hosted.getManifest("app", tag("v1"), HEAD)).bytes, undefined);
    assert.equal((await w.meta.getTag("private", "app", "v1"))?.updatedAt, w.clock.now());
  });

  test("an index is refused until its platform manifests are here", async (t) => {
    const w = await world(t);
    const hosted = hostedOf(w);
    const child = manifestOf(CONFIG, []);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [{ mediaType: MediaType.ociManifest, digest: digestOf(child), size: child.byteLength }],
      }),
    );
    await assert.rejects(
      hosted.putManifest("app", tag("multi"), index, MediaType.ociIndex),
      MissingReferenceError,
    );
    await push(hosted, "app", CONFIG);
    await hosted.putManifest("app", digest(digestOf(child)), child, MediaType.ociManifest);
    assert.equal(
      (await hosted.putManifest("app", tag("multi"), index, MediaType.ociIndex)).digest,
      digestOf(index),
    );
  });

  test("refusals: a digest that is not the content's, a schema 1 manifest", async (t) => {
    const w = await world(t);
    const hosted = hostedOf(w);
    await push(hosted, "app", CONFIG);
    const manifest = manifestOf(CONFIG, []);
    const wrong = digestOf(Buffer.from("something else"));
    await assert.rejects(
      hosted.putManifest("app", digest(wrong), manifest, MediaType.ociManifest),
      (error: unknown) => {
        assert.ok(error instanceof DigestMismatchError && error.expected === wrong, String(error));
        assert.equal(heard(error), "DIGEST_INVALID");
        return true;
      },
    );
    const schema1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: "app", tag: "v1", fsLayers: [] }));
    await assert.rejects(
      hosted.putManifest("app", tag("old"), schema1, MediaType.dockerSchema1),
      (error: unknown) => {
        assert.ok(error instanceof InvalidContentError, String(error));
        assert.equal(heard(error), "MANIFEST_INVALID");
        return true;
      },
    );
  });

  test("tags list sorted and paged; an unknown name is a NotFoundError of the name", async (t) => {
    const w = await world(t);
    const hosted = hostedOf(w);
    await push(hosted, "app", CONFIG);
    const manifest = manifestOf(CONFIG, []);
    for (const name of ["v2", "latest", "v1"])
      await hosted.putManifest("app", tag(name), manifest, MediaType.ociManifest);
    assert.deepEqual(await hosted.listTags("app", {}), { tags: ["latest", "v1", "v2"], more: false });
    assert.deepEqual(await hosted.listTags("app", { limit: 2 }), { tags: ["latest", "v1"], more: true });
    assert.deepEqual(await hosted.listTags("app", { limit: 2, last: "v1" }), { tags: ["v2"], more: false });
    assert.deepEqual(await hosted.listNames({}), { names: ["app"], more: false });
    await assert.rejects(hosted.listTags("nothing", {}), (error: unknown) => heard(error) === "NAME_UNKNOWN");
  });
});

describe("hosted: deletes", () => {
  async function pushed(t: Parameters<typeof world>[0], allowDelete: boolean) {
    const w = await world(t);
    const hosted = hostedOf(w, "private", allowDelete);
    const config = await push(hosted, "app", CONFIG);
    const manifest = await hosted.putManifest(
      "app",
      tag("v1"),
      manifestOf(CONFIG, []),
      MediaType.ociManifest,
    );
    await hosted.putManifest("app", tag("v2"), manifestOf(CONFIG, []), MediaType.ociManifest);
    return { hosted, config, manifest: manifest.digest };
  }

  test("by tag removes the tag alone; by digest the manifest and its tags; a blob's link", async (t) => {
    const { hosted, config, manifest } = await pushed(t, true);
    await hosted.deleteManifest("app", tag("v1"));
    await assert.rejects(hosted.getManifest("app", tag("v1"), GET), NotFoundError);
    assert.equal((await hosted.getManifest("app", digest(manifest), GET)).digest, manifest);
    await hosted.deleteManifest("app", digest(manifest));
    await assert.rejects(hosted.getManifest("app", tag("v2"), GET), NotFoundError);
    await assert.rejects(
      hosted.deleteManifest("app", digest(manifest)),
      (error: unknown) => heard(error) === "MANIFEST_UNKNOWN",
    );
    await hosted.deleteBlob("app", config);
    await assert.rejects(hosted.openBlob("app", config), NotFoundError);
    await assert.rejects(
      hosted.deleteBlob("app", config),
      (error: unknown) => heard(error) === "BLOB_UNKNOWN",
    );
  });

  test("allow_delete: false refuses every delete (UNSUPPORTED) and keeps the content", async (t) => {
    const { hosted, config, manifest } = await pushed(t, false);
    for (const attempt of [
      () => hosted.deleteManifest("app", tag("v1")),
      () => hosted.deleteManifest("app", digest(manifest)),
      () => hosted.deleteBlob("app", config),
    ]) {
      await assert.rejects(attempt(), (error: unknown) => {
        assert.ok(error instanceof UnsupportedError, String(error));
        assert.deepEqual([heard(error), toOciError(error)?.status], ["UNSUPPORTED", 405]);
        return true;
      });
    }
    assert.equal((await hosted.getManifest("app", tag("v1"), GET)).digest, manifest);
    assert.equal((await hosted.statBlob("app", config)).cache, "hit");
  });
});

describe("hosted: mounts", () => {
  test("a blob is mounted only from a source that holds it itself, under the name given", async (t) => {
    const w = await world(t);
    const source = hostedOf(w, "source");
    const target = hostedOf(w, "target");
    const blob = await push(source, "base", LAYER);
    assert.equal(await target.mountBlob("app", blob, source, "elsewhere"), false, "not under that name");
    assert.equal(
      await target.mountBlob("app", blob, hostedOf(w, "empty"), "base"),
      false,
      "not in that repository",
    );
    await assert.rejects(target.openBlob("app", blob), NotFoundError);
    assert.equal(await target.mountBlob("app", blob, source, "base"), true);
    assert.ok((await bytesOf(await target.openBlob("app", blob))).equals(LAYER));
    assert.equal(w.blobs.volume.blobs.size, 1, "linked, not copied");
  });
});
