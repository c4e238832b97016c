// The index case: an index pulled by tag, and the platform manifests and blobs pulled through it,
// stay pullable by digest with the upstream gone; the tag itself is then served stale.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MediaType } from "../../src/oci/media-types.js";
import { FakeUpstream } from "../fakes/fake-upstream.js";
import { bytesOf, digest, downloadEnded, GET, HEAD, proxyOf, TTL_MS, tag, world } from "./fixture.js";

const NAME = "library/multi";

test("an index and what was pulled through it stay pullable by digest with the upstream gone", async (t) => {
  const w = await world(t);
  const upstream = new FakeUpstream();
  const amd64 = upstream.putImage(NAME, undefined, ["amd64 layer"]);
  const arm64 = upstream.putImage(NAME, undefined, ["arm64 layer"]);
  const index = upstream.putIndex(NAME, "latest", [amd64, arm64]);
  const proxy = proxyOf(w, upstream);

  // A client's pull: the index by tag, then each platform's manifest by digest, then its blobs.
  const pulledIndex = await proxy.getManifest(NAME, tag("latest"), GET);
  assert.deepEqual([pulledIndex.digest, pulledIndex.mediaType], [index.digest, MediaType.ociIndex]);
  for (const image of [amd64, arm64]) {
    assert.equal((await proxy.getManifest(NAME, digest(image.digest), GET)).cache, "miss");
    for (const blob of [image.config, ...image.layers.map((layer) => layer.digest)]) {
      await bytesOf(await proxy.openBlob(NAME, blob));
      await downloadEnded(w, blob);
    }
  }

  upstream.fail({ kind: "down" });
  const asked = upstream.requests.length;
  for (const manifest of [index, amd64, arm64]) {
    for (const request of [GET, HEAD]) {
      const again = await proxy.getManifest(NAME, digest(manifest.digest), request);
      assert.deepEqual(
        [again.cache, again.mediaType, again.size],
        ["hit", manifest.mediaType, manifest.bytes.byteLength],
      );
      if (request === GET) assert.deepEqual(again.bytes, manifest.bytes);
    }
  }
  for (const layer of arm64.layers)
    assert.ok((await bytesOf(await proxy.openBlob(NAME, layer.digest))).equals(layer.bytes));
  assert.equal(upstream.requests.length, asked, "nothing by digest asked the upstream");

  w.clock.advance(TTL_MS);
  const stale = await proxy.getManifest(NAME, tag("latest"), GET);
  assert.deepEqual([stale.digest, stale.cache], [index.digest, "stale"]);
});
