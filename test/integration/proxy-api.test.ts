// Issue 2, case 1: the OCI distribution read API of a proxy repository, checked byte by byte and
// header by header against a token-auth upstream standing in for Docker Hub.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { skopeoCopy } from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import {
  ACCEPT_MANIFESTS,
  errorCodes,
  type RawResponse,
  rawRequest,
  sha256,
} from "../harness/http/requests.js";
import {
  expectedContent,
  getImage,
  layoutBytes,
  MediaTypes,
  type TestImage,
} from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import type { Upstream } from "../harness/upstream/docker-registry.js";
import { pushReferrer } from "../harness/upstream/registry-write.js";
import type { Wharf } from "../harness/wharf/start.js";

const ZERO = `sha256:${"0".repeat(64)}`;
const BLOB_GET = /\/blobs\/sha256:/;
const MANIFEST = /\/manifests\//;

describe("OCI read API of a proxy in front of a token-auth upstream", () => {
  let fx: ProxyFixture;
  let up: Upstream;
  let wharf: Wharf;
  const small = getImage("small");
  const docker = getImage("docker");
  const multi = getImage("multi");
  const many = getImage("many");
  const req = (path: string, method = "GET", headers: Record<string, string> = {}) =>
    rawRequest(wharf.url, path, { method, headers: { accept: ACCEPT_MANIFESTS, ...headers } });

  before(async () => {
    fx = await withProxy({
      upstream: {
        images: [
          { image: small, ref: "library/small:latest", tags: ["v1", "v2", "v3"] },
          { image: docker, ref: "library/docker:latest" },
          { image: multi, ref: "library/multi:latest", all: true },
          { image: many, ref: "library/many:latest" },
        ],
      },
    });
    ({ upstream: up, wharf } = fx);
  });
  after(() => fx?.close());

  /** The manifest answer must be the upstream's manifest, exactly. */
  function assertManifest(
    res: RawResponse,
    image: TestImage,
    digest: string,
    mediaType: string,
    head: boolean,
  ) {
    const bytes = layoutBytes(image, digest);
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.headers["content-type"], mediaType);
    assert.equal(res.headers["docker-content-digest"], digest);
    assert.equal(res.headers["content-length"], String(bytes.length));
    assert.equal(res.headers["docker-distribution-api-version"], "registry/2.0");
    if (head) assert.equal(res.body.length, 0);
    else {
      assert.equal(sha256(res.body), digest);
      assert.ok(res.body.equals(bytes));
    }
  }

  test("GET and HEAD /v2/ answer 200 with Docker-Distribution-API-Version", async () => {
    for (const method of ["GET", "HEAD"]) {
      const res = await req("/v2/", method);
      assert.equal(res.status, 200);
      assert.equal(res.headers["docker-distribution-api-version"], "registry/2.0");
    }
  });

  test("manifests by tag and by digest, GET and HEAD, cold and warm: own media type, digest, length, bytes", async () => {
    for (const [image, name] of [
      [small, "small"],
      [docker, "docker"],
      [multi, "multi"],
    ] as const) {
      for (const ref of ["latest", image.digest, "latest"]) {
        for (const method of ["HEAD", "GET"]) {
          const res = await req(`/v2/${name}/manifests/${ref}`, method);
          assertManifest(res, image, image.digest, image.mediaType, method === "HEAD");
        }
      }
      const warm = await req(`/v2/${name}/manifests/latest`);
      assert.equal(warm.headers["x-wharf-cache"], "hit", `${name} is served from the cache now`);
    }
    for (const child of multi.manifests) {
      const res = await req(`/v2/multi/manifests/${child.digest}`);
      assertManifest(res, multi, child.digest, MediaTypes.ociManifest, false);
    }
  });

  test("HEAD for an uncached manifest or blob asks upstream (no 404, no counted GET)", async () => {
    const mark = up.mark();
    const layer = many.manifests[0]!.layers[0]!;
    const manifest = await req(`/v2/many/manifests/${many.digest}`, "HEAD");
    assertManifest(manifest, many, many.digest, many.mediaType, true);
    const blob = await req(`/v2/many/blobs/${layer.digest}`, "HEAD");
    assert.equal(blob.status, 200);
    assert.equal(blob.headers["content-length"], String(layer.size));
    assert.equal(blob.headers["docker-content-digest"], layer.digest);
    await up.settle();
    assert.equal(up.count({ method: "GET", pathRegex: MANIFEST, since: mark }), 0);
    assert.equal(up.count({ method: "GET", pathRegex: BLOB_GET, since: mark }), 0);
  });

  test("blobs: GET and HEAD, cold and warm, byte-exact with Docker-Content-Digest and Content-Length", async () => {
    const m = small.manifests[0]!;
    for (const blob of [m.config, ...m.layers]) {
      for (const round of ["cold", "warm"]) {
        const res = await req(`/v2/small/blobs/${blob.digest}`);
        assert.equal(res.status, 200, `${round} ${blob.digest}`);
        assert.equal(res.headers["docker-content-digest"], blob.digest);
        assert.equal(res.headers["content-length"], String(blob.size));
        assert.equal(sha256(res.body), blob.digest);
        assert.ok(res.body.equals(layoutBytes(small, blob.digest)));
        assert.equal(res.headers["x-wharf-cache"], round === "cold" ? "miss" : "hit");
      }
      const head = await req(`/v2/small/blobs/${blob.digest}`, "HEAD");
      assert.equal(head.status, 200);
      assert.equal(head.headers["content-length"], String(blob.size));
      assert.equal(head.body.length, 0);
    }
  });

  test("Range: 206 with Content-Range cold and warm, one upstream GET, 416 when unsatisfiable", async () => {
    const [, layer, other] = docker.manifests[0]!.layers as [
      unknown,
      TestImage["blobs"][0],
      TestImage["blobs"][0],
    ];
    const bytes = layoutBytes(docker, layer.digest);
    const path = `/v2/docker/blobs/${layer.digest}`;
    const mark = up.mark();
    const cases: Array<[string, number, number]> = [
      ["bytes=1000-2999", 1000, 2999],
      ["bytes=-100", layer.size - 100, layer.size - 1],
      [`bytes=${layer.size - 10}-`, layer.size - 10, layer.size - 1],
    ];
    for (const round of ["cold", "warm"]) {
      for (const [range, start, end] of cases) {
        const res = await req(path, "GET", { range });
        assert.equal(res.status, 206, `${round} ${range}`);
        assert.equal(res.headers["content-range"], `bytes ${start}-${end}/${layer.size}`);
        assert.equal(res.headers["content-length"], String(end - start + 1));
        assert.ok(res.body.equals(bytes.subarray(start, end + 1)), `${round} ${range} bytes`);
      }
    }
    const whole = await req(path);
    assert.equal(whole.headers["x-wharf-cache"], "hit");
    assert.equal(sha256(whole.body), layer.digest);
    for (const digest of [layer.digest, other.digest]) {
      const res = await req(`/v2/docker/blobs/${digest}`, "GET", { range: `bytes=${other.size + 5}-` });
      assert.equal(res.status, 416, digest === layer.digest ? "warm" : "cold");
    }
    await up.settle();
    // whatever the answer: a ranged 206 fetch upstream would be a second download too
    const gets = up.requests(mark).filter((e) => e.method === "GET" && e.path.endsWith(layer.digest));
    assert.deepEqual(
      gets.map((e) => e.status),
      [200],
      "one upstream GET for the ranged blob, of the whole blob",
    );
  });

  test("tags list with n and last, paged by the Link header", async () => {
    const all = await req("/v2/small/tags/list");
    assert.equal(all.status, 200);
    assert.deepEqual(JSON.parse(all.body.toString()), { name: "small", tags: ["latest", "v1", "v2", "v3"] });
    const pages: string[][] = [];
    let next: string | undefined = "/v2/small/tags/list?n=2";
    while (next && pages.length < 5) {
      const res = await req(next);
      assert.equal(res.status, 200);
      pages.push((JSON.parse(res.body.toString()) as { tags: string[] }).tags);
      next = /^<([^>]+)>;\s*rel="next"$/.exec(String(res.headers.link ?? ""))?.[1];
      if (pages.length === 1) assert.equal(next, "/v2/small/tags/list?n=2&last=v1");
    }
    assert.deepEqual(pages.flat(), ["latest", "v1", "v2", "v3"]);
    assert.ok(pages.every((p) => p.length <= 2));
    const afterV1 = await req("/v2/small/tags/list?last=v1");
    assert.deepEqual((JSON.parse(afterV1.body.toString()) as { tags: string[] }).tags, ["v2", "v3"]);
  });

  test("catalog lists what is cached, not what upstream has", async () => {
    const res = await req("/v2/_catalog");
    assert.equal(res.status, 200);
    const names = (JSON.parse(res.body.toString()) as { repositories: string[] }).repositories;
    for (const cached of ["library/docker", "library/multi", "library/small"])
      assert.ok(names.includes(cached), cached);
    // many was only HEADed: nothing of it is cached
    assert.ok(!names.includes("library/many"), names.join(","));
    const page = await req("/v2/_catalog?n=1");
    assert.deepEqual(JSON.parse(page.body.toString()), { repositories: [names[0]] });
    assert.match(String(page.headers.link ?? ""), /^<\/v2\/_catalog\?n=1&last=[^>]+>; rel="next"$/);
  });

  test("referrers answers an OCI index, empty when there are none", async () => {
    const res = await req(`/v2/small/referrers/${small.digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], MediaTypes.ociIndex);
    assert.deepEqual(JSON.parse(res.body.toString()), {
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: [],
    });
  });

  test("referrers lists an artifact whose subject is the image once it was pulled, and filters by type", async () => {
    const subject = { mediaType: small.mediaType, digest: small.digest, size: small.size };
    const sig = await pushReferrer(up, "library/small", "sig", subject);
    // fetched by tag the way a signature tool finds it on a registry without a referrers API
    const fetched = await req("/v2/small/manifests/sig");
    assert.equal(fetched.status, 200);
    assert.ok(fetched.body.equals(sig.bytes));
    const listed = await req(`/v2/small/referrers/${small.digest}`);
    assert.equal(listed.status, 200);
    assert.equal(listed.headers["content-type"], MediaTypes.ociIndex);
    const index = JSON.parse(listed.body.toString()) as { manifests: unknown[] };
    assert.deepEqual(index.manifests, [
      {
        mediaType: MediaTypes.ociManifest,
        digest: sig.digest,
        size: sig.size,
        artifactType: sig.artifactType,
      },
    ]);
    const filtered = await req(`/v2/small/referrers/${small.digest}?artifactType=application/x-other`);
    assert.deepEqual((JSON.parse(filtered.body.toString()) as { manifests: unknown[] }).manifests, []);
    assert.equal(filtered.headers["oci-filters-applied"], "artifactType");
  });

  test("errors carry the spec body and status", async () => {
    const cases: Array<[string, string, number, string[]]> = [
      ["GET", "/v2/small/manifests/nosuchtag", 404, ["MANIFEST_UNKNOWN"]],
      ["GET", `/v2/small/manifests/${ZERO}`, 404, ["MANIFEST_UNKNOWN"]],
      ["GET", "/v2/nosuchrepo/manifests/latest", 404, ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]],
      ["GET", `/v2/small/blobs/${ZERO}`, 404, ["BLOB_UNKNOWN"]],
      ["GET", "/v2/small/blobs/sha256:xyz", 400, ["DIGEST_INVALID"]],
      ["GET", "/v2/small/manifests/sha256:abc", 400, ["DIGEST_INVALID"]],
      ["GET", `/v2/small/blobs/${ZERO.toUpperCase()}`, 400, ["DIGEST_INVALID"]],
      ["GET", "/v2/../../etc/passwd", 400, ["NAME_INVALID"]],
      ["GET", "/v2/library/../../../etc/manifests/latest", 400, ["NAME_INVALID"]],
      ["GET", "/v2/%2e%2e/%2e%2e/etc/manifests/latest", 400, ["NAME_INVALID"]],
      ["GET", "/v2/Library/Small/manifests/latest", 400, ["NAME_INVALID"]],
      ["DELETE", "/v2/small/manifests/latest", 405, ["UNSUPPORTED"]],
      ["PUT", "/v2/small/manifests/latest", 405, ["UNSUPPORTED"]],
      ["DELETE", `/v2/small/blobs/${small.manifests[0]!.config.digest}`, 405, ["UNSUPPORTED"]],
      ["POST", "/v2/small/blobs/uploads/", 405, ["UNSUPPORTED"]],
      ["PATCH", "/v2/", 405, ["UNSUPPORTED"]],
    ];
    for (const [method, path, status, codes] of cases) {
      const res = await req(path, method);
      const what = `${method} ${path}: ${res.status} ${res.body.toString()}`;
      assert.equal(res.status, status, what);
      assert.match(String(res.headers["content-type"]), /^application\/json/, what);
      assert.ok(codes.includes(errorCodes(res.body)[0] ?? ""), what);
    }
    const head = await req(`/v2/small/blobs/${ZERO}`, "HEAD");
    assert.deepEqual([head.status, head.body.length], [404, 0]);
    assert.equal((await req("/v2/")).status, 200, "still serving");
  });

  test("`many` and `library/many` are one repository; ?ns=docker.io routes to it", async () => {
    const short = await skopeoCopy(`${wharf.host}/many:latest`, makeTempDir("pull"));
    assert.deepEqual(short.content, expectedContent(many));
    await up.settle();
    const mark = up.mark();
    const long = await skopeoCopy(`${wharf.host}/library/many:latest`, makeTempDir("pull"));
    assert.deepEqual(long.content, expectedContent(many));
    const viaNs = await req("/v2/library/many/manifests/latest?ns=docker.io");
    assertManifest(viaNs, many, many.digest, many.mediaType, false);
    assert.equal(viaNs.headers["oci-namespace"], "docker.io");
    const otherNs = await req("/v2/library/many/manifests/latest?ns=quay.io");
    assert.equal(otherNs.status, 404);
    await up.settle();
    assert.equal(up.count({ method: "GET", pathRegex: BLOB_GET, since: mark }), 0);
    assert.equal(up.count({ method: "GET", pathRegex: MANIFEST, since: mark }), 0);
  });
});
