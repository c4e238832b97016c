// Issue 3, case 4 (manifests and management): manifest pushes that reference missing content are
// refused, OCI 1.1 subjects answer OCI-Subject and show in the referrers API (filtered by
// artifactType), and deletes of tags, manifests and blobs work where the repository allows them
// and are refused with 405 where it does not.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import {
  ACCEPT_MANIFESTS,
  errorCodes,
  type RawResponse,
  rawRequest,
  sha256,
} from "../harness/http/requests.js";
import { pushBlob, putManifest } from "../harness/http/uploads.js";
import { pushImage } from "../harness/images/push.js";
import { getImage, layoutBytes, MediaTypes } from "../harness/images/test-images.js";
import { pushReferrer, retag } from "../harness/upstream/registry-write.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

interface ReferrersIndex {
  mediaType: string;
  manifests: Array<{ mediaType: string; digest: string; size: number; artifactType?: string }>;
}

const SIGNATURE = "application/vnd.wharf.test.signature";
const SBOM = "application/vnd.wharf.test.sbom";

describe("manifest pushes, referrers and deletes in hosted repositories", () => {
  let wharf: Wharf;
  const small = getImage("small");
  const multi = getImage("multi");
  const smallManifest = small.manifests[0]!;
  const get = (path: string, method = "GET") =>
    rawRequest(wharf.url, path, { method, headers: { accept: ACCEPT_MANIFESTS } });
  const del = (path: string) => rawRequest(wharf.url, path, { method: "DELETE" });

  before(async () => {
    const config = {
      repositories: {
        internal: { type: "hosted" },
        locked: { type: "hosted", allow_delete: false },
        all: { type: "group", members: ["internal", "locked"] },
      },
    };
    wharf = await startWharf({ configYaml: YAML.stringify(config) });
  });
  after(() => wharf?.close());

  /** A refusal naming the digest that is missing. */
  function assertMissing(res: RawResponse, digest: string): void {
    assert.equal(res.status, 400, res.body.toString());
    assert.deepEqual(errorCodes(res.body), ["MANIFEST_BLOB_UNKNOWN"]);
    const detail = (JSON.parse(res.body.toString()) as { errors: Array<{ detail?: { digest?: string } }> })
      .errors[0]?.detail;
    assert.equal(detail?.digest, digest);
  }

  function assertStored(res: RawResponse, name: string, digest: string): void {
    assert.equal(res.status, 201, res.body.toString());
    assert.equal(res.headers["docker-content-digest"], digest);
    assert.equal(res.headers.location, `/v2/${name}/manifests/${digest}`);
  }

  test("a manifest whose layer is missing (or only under another name) is refused with MANIFEST_BLOB_UNKNOWN", async () => {
    const bytes = layoutBytes(small, small.digest);
    const last = smallManifest.layers.at(-1)!;
    for (const blob of [smallManifest.config, ...smallManifest.layers.slice(0, -1)])
      await pushBlob(wharf.url, "internal/partial", layoutBytes(small, blob.digest));
    await pushBlob(wharf.url, "internal/elsewhere", layoutBytes(small, last.digest));
    assertMissing(await putManifest(wharf.url, "internal/partial", "1", bytes, small.mediaType), last.digest);
    assert.equal((await get("/v2/internal/partial/manifests/1")).status, 404, "nothing was stored");
    await pushBlob(wharf.url, "internal/partial", layoutBytes(small, last.digest));
    assertStored(
      await putManifest(wharf.url, "internal/partial", "1", bytes, small.mediaType),
      "internal/partial",
      small.digest,
    );
    const got = await get("/v2/internal/partial/manifests/1");
    assert.ok(got.body.equals(bytes));
    assert.equal(got.headers["content-type"], small.mediaType);
  });

  test("an index whose child manifest is missing is refused; children PUT by digest; a wrong digest is refused", async () => {
    const index = layoutBytes(multi, multi.digest);
    for (const blob of multi.blobs)
      await pushBlob(wharf.url, "internal/multi", layoutBytes(multi, blob.digest));
    const [first, second] = multi.manifests;
    assert.ok(first && second);
    assertMissing(await putManifest(wharf.url, "internal/multi", "1", index, multi.mediaType), first.digest);
    const mismatch = await putManifest(
      wharf.url,
      "internal/multi",
      second.digest,
      layoutBytes(multi, first.digest),
      MediaTypes.ociManifest,
    );
    assert.equal(mismatch.status, 400, mismatch.body.toString());
    assert.deepEqual(errorCodes(mismatch.body), ["DIGEST_INVALID"]);
    for (const child of [first, second]) {
      const res = await putManifest(
        wharf.url,
        "internal/multi",
        child.digest,
        layoutBytes(multi, child.digest),
        MediaTypes.ociManifest,
      );
      assertStored(res, "internal/multi", child.digest);
    }
    assertStored(
      await putManifest(wharf.url, "internal/multi", "1", index, multi.mediaType),
      "internal/multi",
      multi.digest,
    );
    assert.ok((await get("/v2/internal/multi/manifests/1")).body.equals(index));
  });

  test("OCI 1.1 subject: OCI-Subject on PUT, referrers listed and filtered by artifactType, also through a group", async () => {
    await pushImage(small, { host: wharf.host }, "internal/signed:1");
    const subject = { mediaType: small.mediaType, digest: small.digest, size: small.size };
    const target = { url: wharf.url };
    const sig = await pushReferrer(target, "internal/signed", "sig", subject, SIGNATURE);
    const sbom = await pushReferrer(target, "internal/signed", "sbom", subject, SBOM);
    const again = await putManifest(
      wharf.url,
      "internal/signed",
      sig.digest,
      sig.bytes,
      MediaTypes.ociManifest,
    );
    assert.equal(again.status, 201, again.body.toString());
    assert.equal(again.headers["oci-subject"], small.digest);
    const descriptor = (r: typeof sig) => ({
      mediaType: MediaTypes.ociManifest,
      digest: r.digest,
      size: r.size,
      artifactType: r.artifactType,
    });
    const listed = (res: RawResponse) =>
      (JSON.parse(res.body.toString()) as ReferrersIndex).manifests
        .map(({ mediaType, digest, size, artifactType }) => ({ mediaType, digest, size, artifactType }))
        .sort((a, b) => a.digest.localeCompare(b.digest));
    const both = [descriptor(sig), descriptor(sbom)].sort((a, b) => a.digest.localeCompare(b.digest));
    for (const prefix of ["internal", "all"]) {
      const all = await get(`/v2/${prefix}/signed/referrers/${small.digest}`);
      assert.equal(all.status, 200, all.body.toString());
      assert.equal(all.headers["content-type"], MediaTypes.ociIndex);
      assert.deepEqual(listed(all), both, prefix);
    }
    const filtered = await get(`/v2/internal/signed/referrers/${small.digest}?artifactType=${SBOM}`);
    assert.deepEqual(listed(filtered), [descriptor(sbom)]);
    assert.equal(filtered.headers["oci-filters-applied"], "artifactType");
    const none = await get(`/v2/internal/signed/referrers/${sig.digest}`);
    assert.equal(none.status, 200);
    assert.deepEqual(listed(none), []);
    // a referrer may arrive before its subject (the spec allows pushing signatures first)
    const absent = { mediaType: MediaTypes.ociManifest, digest: sha256("not pushed yet"), size: 14 };
    await pushReferrer(target, "internal/signed", "early", absent, SIGNATURE);
  });

  test("DELETE of a tag, a manifest by digest and a blob: 202, and each is gone", async () => {
    await pushImage(small, { host: wharf.host }, "internal/del:1");
    await retag({ url: wharf.url }, "internal/del", "2", small);
    assert.equal((await del("/v2/internal/del/manifests/1")).status, 202);
    assert.deepEqual(errorCodes((await get("/v2/internal/del/manifests/1")).body), ["MANIFEST_UNKNOWN"]);
    assert.equal((await get("/v2/internal/del/manifests/2")).status, 200, "the other tag stays");
    assert.equal(
      (await get(`/v2/internal/del/manifests/${small.digest}`)).status,
      200,
      "so does the manifest",
    );
    assert.equal((await del(`/v2/internal/del/manifests/${small.digest}`)).status, 202);
    assert.equal((await get(`/v2/internal/del/manifests/${small.digest}`)).status, 404);
    assert.equal((await get("/v2/internal/del/manifests/2")).status, 404, "its tags went with it");
    const layer = smallManifest.layers[0]!.digest;
    assert.equal((await del(`/v2/internal/del/blobs/${layer}`)).status, 202);
    assert.deepEqual(errorCodes((await get(`/v2/internal/del/blobs/${layer}`)).body), ["BLOB_UNKNOWN"]);
    assert.equal((await del(`/v2/internal/del/blobs/${layer}`)).status, 404, "deleting twice");
    // the same content under another name is untouched
    assert.equal((await get(`/v2/internal/signed/blobs/${layer}`)).status, 200);
  });

  test("allow_delete: false → 405 UNSUPPORTED for tag, manifest and blob deletes; everything stays", async () => {
    await pushImage(small, { host: wharf.host }, "locked/keep:1");
    const layer = smallManifest.layers[0]!.digest;
    const paths = [
      "/v2/locked/keep/manifests/1",
      `/v2/locked/keep/manifests/${small.digest}`,
      `/v2/locked/keep/blobs/${layer}`,
    ];
    for (const path of paths) {
      const res = await del(path);
      assert.equal(res.status, 405, `${path}: ${res.body.toString()}`);
      assert.deepEqual(errorCodes(res.body), ["UNSUPPORTED"], path);
    }
    for (const path of paths) assert.equal((await get(path, "HEAD")).status, 200, path);
  });
});
