// Issue 3, case 4 (uploads): the blob upload protocol of a hosted repository spoken raw, each
// answer checked: chunked PATCHes with Content-Range, out-of-order chunks, status, resuming after
// the client lost its connection mid-chunk or wharf restarted, cancel, wrong digests, one-request
// uploads, cross-repository mounts, and abandoned sessions expiring.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import YAML from "yaml";
import { errorCodes, type RawResponse, rawRequest, sha256 } from "../harness/http/requests.js";
import {
  closeUpload,
  interruptedPatch,
  locationPath,
  patchChunk,
  pushBlob,
  startUpload,
  uploadedBytes,
} from "../harness/http/uploads.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

const KiB = 1024;
const EXPIRE_AFTER_MS = 2000;

describe("blob uploads into a hosted repository", () => {
  let wharf: Wharf;
  const blob = crypto.randomBytes(300 * KiB);
  const digest = sha256(blob);
  const third = blob.length / 3;

  before(async () => {
    const config = {
      repositories: { internal: { type: "hosted" } },
      uploads: { expire_after: `${EXPIRE_AFTER_MS / 1000}s` },
    };
    wharf = await startWharf({ configYaml: YAML.stringify(config) });
  });
  after(() => wharf?.close());

  const status = (location: string) => rawRequest(wharf.url, location);
  const uploadFiles = () => fs.readdirSync(path.join(wharf.dataDir, "uploads")).sort();

  /** A new session for `name`: 202 with Location, Docker-Upload-UUID and an empty Range. */
  async function open(name: string): Promise<string> {
    const res = await startUpload(wharf.url, name);
    assert.equal(res.status, 202, res.body.toString());
    assert.match(String(res.headers["docker-upload-uuid"]), /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.range, "0-0");
    return locationPath(res);
  }

  /** The upload finished into exactly `bytes`, readable under `name`. */
  async function assertBlob(name: string, res: RawResponse, bytes: Buffer): Promise<void> {
    assert.equal(res.status, 201, res.body.toString());
    assert.equal(res.headers["docker-content-digest"], sha256(bytes));
    assert.equal(res.headers.location, `/v2/${name}/blobs/${sha256(bytes)}`);
    const got = await rawRequest(wharf.url, `/v2/${name}/blobs/${sha256(bytes)}`);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(bytes), "the stored blob is the uploaded bytes");
  }

  test("chunked: PATCH with Content-Range, out of order → 416, status 204 with Range, last chunk on PUT", async () => {
    let location = await open("internal/chunked");
    const first = await patchChunk(wharf.url, location, blob.subarray(0, third), 0);
    assert.equal(first.status, 202, first.body.toString());
    assert.equal(first.headers.range, `0-${third - 1}`);
    location = locationPath(first);
    const skipped = await patchChunk(wharf.url, location, blob.subarray(2 * third), 2 * third);
    assert.equal(skipped.status, 416, skipped.body.toString());
    assert.equal(skipped.headers.range, `0-${third - 1}`, "416 says where the upload stands");
    const state = await status(location);
    assert.equal(state.status, 204);
    assert.equal(state.headers.range, `0-${third - 1}`);
    assert.ok(state.headers["docker-upload-uuid"]);
    const second = await patchChunk(wharf.url, location, blob.subarray(third, 2 * third), third);
    assert.equal(second.status, 202, second.body.toString());
    assert.equal(uploadedBytes(second), 2 * third);
    await assertBlob(
      "internal/chunked",
      await closeUpload(wharf.url, locationPath(second), digest, blob.subarray(2 * third)),
      blob,
    );
    const ended = await status(location);
    assert.equal(ended.status, 404);
    assert.deepEqual(errorCodes(ended.body), ["BLOB_UPLOAD_UNKNOWN"]);
  });

  test("streamed PATCHes without Content-Range append; a session answers only under the name it was opened for", async () => {
    const location = await open("internal/streamed");
    const elsewhere = location.replace("/internal/streamed/", "/internal/other/");
    const foreign = await patchChunk(wharf.url, elsewhere, blob.subarray(0, third), 0);
    assert.equal(foreign.status, 404, foreign.body.toString());
    assert.deepEqual(errorCodes(foreign.body), ["BLOB_UPLOAD_UNKNOWN"]);
    let next = location;
    for (let start = 0; start < blob.length; start += third) {
      const res = await patchChunk(wharf.url, next, blob.subarray(start, start + third));
      assert.equal(res.status, 202, res.body.toString());
      assert.equal(uploadedBytes(res), start + third);
      next = locationPath(res);
    }
    await assertBlob("internal/streamed", await closeUpload(wharf.url, next, digest), blob);
  });

  test("resume: the client drops the connection mid-PATCH, asks the status and continues from the offset", async () => {
    const location = await open("internal/resumed");
    const half = blob.length / 2;
    await interruptedPatch(wharf.url, location, blob, half);
    let offset = 0;
    for (let i = 0; i < 50 && offset === 0; i++) {
      const state = await status(location);
      assert.equal(state.status, 204, state.body.toString());
      offset = uploadedBytes(state);
      if (offset === 0) await sleep(100);
    }
    assert.equal(offset, half, "every byte that arrived before the disconnect counts");
    const rest = await patchChunk(wharf.url, location, blob.subarray(offset), offset);
    assert.equal(rest.status, 202, rest.body.toString());
    await assertBlob("internal/resumed", await closeUpload(wharf.url, locationPath(rest), digest), blob);
  });

  test("a session survives a wharf restart: status, next chunk and digest check all still work", async () => {
    const location = await open("internal/restarted");
    assert.equal((await patchChunk(wharf.url, location, blob.subarray(0, third), 0)).status, 202);
    await wharf.restart();
    assert.equal(uploadedBytes(await status(location)), third);
    const rest = await patchChunk(wharf.url, location, blob.subarray(third), third);
    assert.equal(rest.status, 202, rest.body.toString());
    await assertBlob("internal/restarted", await closeUpload(wharf.url, locationPath(rest), digest), blob);
  });

  test("cancel: DELETE ends the session and removes its file", async () => {
    const location = await open("internal/cancelled");
    const id = location.split("/").at(-1) ?? "";
    assert.equal((await patchChunk(wharf.url, location, blob.subarray(0, third), 0)).status, 202);
    assert.ok(uploadFiles().includes(id));
    const cancelled = await rawRequest(wharf.url, location, { method: "DELETE" });
    assert.equal(cancelled.status, 204, cancelled.body.toString());
    assert.equal((await status(location)).status, 404);
    const late = await patchChunk(wharf.url, location, blob.subarray(third, 2 * third), third);
    assert.deepEqual(errorCodes(late.body), ["BLOB_UPLOAD_UNKNOWN"]);
    assert.ok(!uploadFiles().includes(id), "the session's bytes are gone");
  });

  test("a wrong digest is refused (session kept, nothing stored); one-request uploads, right and wrong", async () => {
    const wrong = sha256("something else");
    const location = await open("internal/digests");
    const chunk = await patchChunk(wharf.url, location, blob, 0);
    const refused = await closeUpload(wharf.url, locationPath(chunk), wrong);
    assert.equal(refused.status, 400, refused.body.toString());
    assert.deepEqual(errorCodes(refused.body), ["DIGEST_INVALID"]);
    assert.equal((await rawRequest(wharf.url, `/v2/internal/digests/blobs/${wrong}`)).status, 404);
    await assertBlob("internal/digests", await closeUpload(wharf.url, locationPath(chunk), digest), blob);
    // POST ?digest= with the body: one request, no session left behind either way
    const sessions = uploadFiles();
    const other = crypto.randomBytes(64 * KiB);
    const bad = await startUpload(wharf.url, "internal/single", `digest=${wrong}`, other);
    assert.equal(bad.status, 400, bad.body.toString());
    assert.deepEqual(errorCodes(bad.body), ["DIGEST_INVALID"]);
    await assertBlob(
      "internal/single",
      await startUpload(wharf.url, "internal/single", `digest=${sha256(other)}`, other),
      other,
    );
    assert.deepEqual(
      uploadFiles().filter((f) => !sessions.includes(f)),
      [],
      "no session left behind",
    );
  });

  test("mount from another name → 201; of an absent blob, or from a name without it → 202 and a session", async () => {
    const bytes = crypto.randomBytes(48 * KiB);
    const mounted = await pushBlob(wharf.url, "internal/source", bytes);
    const res = await startUpload(wharf.url, "internal/target", `mount=${mounted}&from=internal/source`);
    await assertBlob("internal/target", res, bytes);
    const absent = sha256(crypto.randomBytes(16));
    for (const [what, query] of [
      ["an absent blob", `mount=${absent}&from=internal/source`],
      ["a name that does not hold it", `mount=${mounted}&from=internal/elsewhere`],
    ]) {
      const fallback = await startUpload(wharf.url, "internal/target2", query);
      assert.equal(fallback.status, 202, `${what}: ${fallback.body.toString()}`);
      assert.ok(fallback.headers["docker-upload-uuid"], what);
      assert.match(locationPath(fallback), /^\/v2\/internal\/target2\/blobs\/uploads\//, what);
    }
    assert.equal((await rawRequest(wharf.url, `/v2/internal/target2/blobs/${mounted}`)).status, 404);
  });

  test("abandoned uploads expire after uploads.expire_after, discarded by the server; a live one stays", async () => {
    const abandoned = await open("internal/abandoned");
    const id = abandoned.split("/").at(-1) ?? "";
    assert.equal((await patchChunk(wharf.url, abandoned, blob.subarray(0, third), 0)).status, 202);
    // opened as the abandoned one expires: it is then purged a whole expiry period after it
    await sleep(EXPIRE_AFTER_MS);
    const live = await open("internal/live");
    const deadline = Date.now() + EXPIRE_AFTER_MS * 2;
    let gone = await status(abandoned);
    while (gone.status !== 404 && Date.now() < deadline) {
      await sleep(100);
      gone = await status(abandoned);
    }
    assert.equal(gone.status, 404, `still there ${EXPIRE_AFTER_MS * 3} ms after its last chunk`);
    assert.deepEqual(errorCodes(gone.body), ["BLOB_UPLOAD_UNKNOWN"]);
    assert.ok(!uploadFiles().includes(id), "its bytes are gone too");
    assert.equal((await status(live)).status, 204, "a session younger than expire_after is kept");
    await wharf.waitLog((l) => l.msg === "discarded abandoned uploads");
  });
});
