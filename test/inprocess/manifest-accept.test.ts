// A warm manifest asked for with an Accept header that does not list its media type: not found
// (as registry:v2 answers), from the store alone. It once went upstream with a HEAD and rewrote its
// record on every such request.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MediaType } from "../../src/oci/media-types.js";
import type { ManifestRequest } from "../../src/repos/repository.js";
import { NotFoundError } from "../../src/util/errors.js";
import { FakeUpstream } from "../fakes/fake-upstream.js";
import { digest, GET, proxyOf, tag, world } from "./fixture.js";

const NAME = "library/app";
const DOCKER_ONLY: ManifestRequest = { method: "GET", accept: [MediaType.dockerManifest] };
const BOTH: ManifestRequest = { method: "GET", accept: [MediaType.dockerManifest, MediaType.ociManifest] };

describe("proxy manifests: the client's Accept", () => {
  test("a stored OCI manifest asked for as Docker only is not found, and the upstream is not asked", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    const image = upstream.putImage(NAME, "latest", ["one"]);
    const proxy = proxyOf(w, upstream);
    await proxy.getManifest(NAME, tag("latest"), GET);
    const asked = upstream.requests.length;
    for (const reference of [tag("latest"), digest(image.digest)]) {
      await assert.rejects(
        proxy.getManifest(NAME, reference, DOCKER_ONLY),
        (error: unknown) =>
          error instanceof NotFoundError &&
          error.explained &&
          /Accept header does not list/.test(error.message),
      );
      for (const request of [BOTH, { ...DOCKER_ONLY, accept: ["*/*"] }]) {
        const served = await proxy.getManifest(NAME, reference, request);
        assert.deepEqual(
          [served.digest, served.mediaType, served.cache],
          [image.digest, MediaType.ociManifest, "hit"],
        );
      }
    }
    assert.equal(upstream.requests.length, asked, "nothing was asked upstream");
  });

  test("a manifest stored for another name is not adopted for a client that cannot take it", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    const image = upstream.putImage(NAME, "latest", ["shared"]);
    upstream.putImage("library/copy", "latest", ["shared"]);
    const proxy = proxyOf(w, upstream);
    await proxy.getManifest(NAME, tag("latest"), GET);
    const heads = upstream.count("HEAD");
    // The upstream, asked with the client's Accept, has the last word (this fake ignores Accept).
    const served = await proxy.getManifest("library/copy", digest(image.digest), DOCKER_ONLY);
    assert.equal(served.cache, "miss");
    assert.equal(upstream.count("HEAD"), heads, "no HEAD to adopt what the client cannot take");
  });
});
