// Invariant 5 in-process: the store deduplicates bytes across repositories and names, but content
// stored for another repository or name is served only after this proxy's upstream confirms, with
// a HEAD, that it has it under this name; never when the upstream says 404, never on trust.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { digestOf } from "../../src/oci/digest.js";
import { UpstreamError } from "../../src/upstream/errors.js";
import { NotFoundError } from "../../src/util/errors.js";
import { FakeUpstream } from "../fakes/fake-upstream.js";
import { bytesOf, digest, downloadEnded, GET, hostedOf, proxyOf, world } from "./fixture.js";

const LAYER = Buffer.from("a layer both registries serve");

async function setUp(t: Parameters<typeof world>[0]) {
  const w = await world(t);
  const first = new FakeUpstream("https://first.test");
  const second = new FakeUpstream("https://second.test");
  const image = first.putImage("team/app", "latest", ["a layer both registries serve"]);
  const a = proxyOf(w, first, { name: "first" });
  const b = proxyOf(w, second, { name: "second" });
  // Stored for repository "first", name team/app.
  await bytesOf(await a.openBlob("team/app", image.layers[0]?.digest ?? ""));
  await downloadEnded(w, image.layers[0]?.digest ?? "");
  await a.getManifest("team/app", digest(image.digest), GET);
  return { w, first, second, image, a, b, layer: image.layers[0]?.digest ?? "" };
}

describe("isolation across repositories and names", () => {
  test("a blob stored for another repository is served after the upstream confirms it with a HEAD", async (t) => {
    const { w, second, b, layer } = await setUp(t);
    second.putBlob("other/app", LAYER);
    const content = await b.openBlob("other/app", layer);
    assert.equal(content.cache, "hit");
    assert.ok((await bytesOf(content)).equals(LAYER));
    assert.deepEqual([second.count("HEAD", `/blobs/${layer}`), second.count("GET")], [1, 0], "no download");
    assert.ok(await w.meta.hasBlob("second", "other/app", layer), "linked: the next request asks nobody");
    await bytesOf(await b.openBlob("other/app", layer));
    assert.equal(second.requests.length, 1);
  });

  test("never when the upstream says it has no such blob under this name", async (t) => {
    const { w, second, b, a, layer } = await setUp(t);
    for (const [proxy, name] of [
      [b, "other/app"],
      [a, "team/another"],
    ] as const) {
      await assert.rejects(
        proxy.openBlob(name, layer),
        (error: unknown) => error instanceof NotFoundError && error.what === "blob",
      );
    }
    assert.equal(second.count("GET"), 0);
    assert.equal(await w.meta.hasBlob("second", "other/app", layer), false);
  });

  test("never on trust: while the upstream cannot confirm, the blob is not served from the store", async (t) => {
    const { second, b, layer } = await setUp(t);
    second.putBlob("other/app", LAYER);
    second.fail({ kind: "down" });
    await assert.rejects(
      b.openBlob("other/app", layer),
      (error: unknown) => error instanceof UpstreamError && error.kind === "unavailable",
    );
  });

  test("a manifest stored for another repository is served after a HEAD confirms it, never after a 404", async (t) => {
    const { w, second, b, image } = await setUp(t);
    await assert.rejects(
      b.getManifest("other/app", digest(image.digest), GET),
      (error: unknown) => error instanceof NotFoundError && error.what === "manifest",
    );
    assert.equal(await w.meta.getManifest("second", "other/app", image.digest), undefined);
    second.putManifest("other/app", image.bytes, image.mediaType);
    const adopted = await b.getManifest("other/app", digest(image.digest), GET);
    assert.deepEqual([adopted.cache, adopted.mediaType], ["hit", image.mediaType]);
    assert.deepEqual(adopted.bytes, image.bytes);
    assert.deepEqual([second.count("HEAD", `/manifests/${image.digest}`), second.count("GET")], [2, 0]);
    assert.ok(await w.meta.getManifest("second", "other/app", image.digest));
  });

  test("content pushed to a hosted repository is not reachable through a proxy over the same store", async (t) => {
    const w = await world(t);
    const hosted = hostedOf(w);
    const upload = await hosted.startUpload("app");
    const pushed = await hosted.finishUpload("app", upload.id, digestOf(LAYER), Readable.from([LAYER]), {});
    const upstream = new FakeUpstream();
    const proxy = proxyOf(w, upstream);
    assert.equal(await proxy.hasLocalBlob("app", pushed.digest), false);
    await assert.rejects(proxy.openBlob("app", pushed.digest), NotFoundError);
    assert.deepEqual(
      [upstream.count("HEAD"), upstream.count("GET")],
      [1, 0],
      "its upstream said 404 to the HEAD",
    );
  });
});
