// A proxy asks its upstream's /v2/ once it serves, as registry:v2's proxy does at start: the first
// pull after a start then asks for its token at once, and the upstream (docker-registry with token
// auth, as Docker Hub) refuses none of its requests.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { waitUntil } from "../../src/util/wait-until.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { ACCEPT_MANIFESTS, rawRequest } from "../harness/http/requests.js";
import { getImage } from "../harness/images/test-images.js";

let fx: ProxyFixture;
before(async () => {
  fx = await withProxy({
    upstream: { images: [{ image: getImage("small"), ref: "library/small:latest" }] },
    faults: {},
    wharf: false,
  });
});
after(() => fx?.close());

test("the first pull after a start sends the upstream no request it refuses", async () => {
  fx.faults.resetStats();
  const wharf = await fx.startWharf();
  const probed = await waitUntil(() => fx.faults.requests().some((r) => r.path === "/v2/"), 10_000);
  assert.ok(probed, "wharf asked the upstream's /v2/ once it served");
  const manifest = await rawRequest(wharf.url, "/v2/library/small/manifests/latest", {
    headers: { accept: ACCEPT_MANIFESTS },
  });
  assert.equal(manifest.status, 200);
  const refused = fx.faults.requests().filter((r) => r.status === 401 && r.path !== "/v2/");
  assert.deepEqual(refused, [], "the manifest went with a token the first time");
  const probes = fx.faults.requests().filter((r) => r.path === "/v2/");
  assert.equal(probes.length, 1, "one probe");
});
