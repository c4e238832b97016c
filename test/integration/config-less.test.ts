// Issue 3, case 8: without a config file `wharf serve` is still issue 2's Docker Hub cache, set up
// by registry:v2's environment variables, listening where REGISTRY_HTTP_ADDR says and keeping its
// data in ./data; the new routing (ns=docker.io) reaches it, and it takes no pushes.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { basicAuthorization } from "../harness/auth/bearer.js";
import { dockerHubMirror, skopeoCopy } from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { ACCEPT_MANIFESTS, errorCodes, rawRequest } from "../harness/http/requests.js";
import { allDigests, expectedContent, getImage } from "../harness/images/test-images.js";
import { freePort } from "../harness/system/ports.js";
import { makeTempDir } from "../harness/system/tmp.js";
import type { Upstream } from "../harness/upstream/docker-registry.js";
import { waitStored } from "../harness/wharf/data.js";
import type { Wharf } from "../harness/wharf/start.js";

const ADMIN = { username: "admin", password: `config-less-${process.pid}-admin` };

interface Status {
  defaultRepository: string | null;
  repositories: Array<{ name: string; type: string; upstream?: { url: string } }>;
}

describe("wharf serve without a config file", () => {
  let fx: ProxyFixture;
  let up: Upstream;
  let wharf: Wharf;
  let port: number;
  const small = getImage("small");

  before(async () => {
    port = await freePort();
    fx = await withProxy({
      upstream: { images: [{ image: small, ref: "library/small:latest" }] },
      wharf: {
        withCredentials: true,
        env: { REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, WHARF_ADMIN_PASSWORD: ADMIN.password },
        // no --data either: the data must land in ./data of the working directory
        dataDir: null,
        // and no word about authentication: the default, anonymous pulls of the cache allowed
        secured: true,
      },
    });
    ({ upstream: up, wharf } = fx);
  });
  after(() => fx?.close());

  test("listens on REGISTRY_HTTP_ADDR and is one Docker Hub proxy of REGISTRY_PROXY_REMOTEURL, the default", async () => {
    assert.equal(wharf.port, port);
    const res = await rawRequest(`http://127.0.0.1:${port}`, "/api/status");
    assert.equal(res.status, 200);
    const status = JSON.parse(res.body.toString()) as Status;
    assert.deepEqual(
      status.repositories.map((r) => ({ name: r.name, type: r.type, url: r.upstream?.url })),
      [{ name: "docker-hub", type: "proxy", url: up.url }],
    );
    assert.equal(status.defaultRepository, "docker-hub");
  });

  test("skopeo pulls docker.io/library/small through it as its mirror, cached in ./data; ns=docker.io routes to it", async () => {
    const r = await skopeoCopy("docker.io/library/small:latest", makeTempDir("pull"), {
      registriesConf: dockerHubMirror(wharf.host),
    });
    assert.deepEqual(r.content, expectedContent(small));
    const digests = allDigests(expectedContent(small));
    const stored = await waitStored(path.join(wharf.dir, "data"), digests);
    for (const digest of digests) assert.ok(stored.includes(digest), digest);
    const res = await rawRequest(wharf.url, "/v2/small/manifests/latest?ns=docker.io", {
      headers: { accept: ACCEPT_MANIFESTS },
    });
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.headers["docker-content-digest"], small.digest);
    assert.equal(res.headers["oci-namespace"], "docker.io");
  });

  test("a push is refused: 401 to anonymous clients, 405 UNSUPPORTED to the admin, a proxy takes none", async () => {
    const path = "/v2/library/mine/blobs/uploads/";
    const anonymous = await rawRequest(wharf.url, path, { method: "POST" });
    assert.equal(anonymous.status, 401, anonymous.body.toString());
    assert.deepEqual(errorCodes(anonymous.body), ["UNAUTHORIZED"]);
    const admin = await rawRequest(wharf.url, path, {
      method: "POST",
      headers: { authorization: basicAuthorization(ADMIN) },
    });
    assert.equal(admin.status, 405, admin.body.toString());
    assert.deepEqual(errorCodes(admin.body), ["UNSUPPORTED"]);
  });
});
