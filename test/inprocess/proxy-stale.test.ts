// Stale-if-error (invariant 4): when the upstream fails after a tag's TTL, the last known digest is
// served and marked stale with the reason; without a cached copy the failure is the answer, as the
// domain error the HTTP edge maps (429 with Retry-After, 503, or "unknown" for refused credentials).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { toOciError } from "../../src/http/error-mapping.js";
import { UpstreamError } from "../../src/upstream/errors.js";
import { NotFoundError } from "../../src/util/errors.js";
import { FakeUpstream, type UpstreamFailure } from "../fakes/fake-upstream.js";
import { digest, GET, HEAD, proxyOf, TTL_MS, tag, world } from "./fixture.js";

const NAME = "library/app";

const FAILURES: ReadonlyArray<readonly [string, UpstreamFailure, RegExp]> = [
  ["down", { kind: "down" }, /ECONNREFUSED/],
  ["rate-limited (429)", { kind: "rate-limited", retryAfterSeconds: 30 }, /429/],
  ["refusing wharf's credentials (401)", { kind: "unauthorized" }, /401/],
];

describe("stale-if-error", () => {
  for (const [why, failure, reason] of FAILURES) {
    test(`upstream ${why} after the TTL: the cached digest, marked stale with the reason`, async (t) => {
      const w = await world(t);
      const upstream = new FakeUpstream();
      const image = upstream.putImage(NAME, "latest", ["one"]);
      const proxy = proxyOf(w, upstream);
      await proxy.getManifest(NAME, tag("latest"), GET);
      w.clock.advance(TTL_MS);
      upstream.fail(failure);
      for (const request of [GET, HEAD]) {
        const stale = await proxy.getManifest(NAME, tag("latest"), request);
        assert.deepEqual([stale.digest, stale.cache], [image.digest, "stale"]);
        assert.match(stale.staleReason ?? "", reason);
        assert.deepEqual(stale.bytes, request.method === "GET" ? image.bytes : undefined);
      }
      // Stale answers do not renew the tag: once the upstream is back, it is revalidated.
      upstream.fail(undefined);
      assert.equal((await proxy.getManifest(NAME, tag("latest"), GET)).cache, "revalidated");
    });
  }

  test("rate-limited without a cached copy: the UpstreamError with its Retry-After (429 for the client)", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    upstream.putImage(NAME, "latest", ["one"]);
    upstream.fail({ kind: "rate-limited", retryAfterSeconds: 30 });
    const proxy = proxyOf(w, upstream);
    let caught: unknown;
    await proxy.getManifest(NAME, tag("latest"), GET).catch((error: unknown) => {
      caught = error;
    });
    assert.ok(caught instanceof UpstreamError, String(caught));
    assert.deepEqual([caught.kind, caught.retryAfterSeconds], ["rate-limited", 30]);
    const heard = toOciError(caught);
    assert.deepEqual(
      [heard?.code, heard?.status, heard?.headers["retry-after"]],
      ["TOOMANYREQUESTS", 429, "30"],
    );
  });

  test("down without a cached copy: unavailable (503), for manifests, tags lists and blobs alike", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    const image = upstream.putImage(NAME, "latest", ["one"]);
    upstream.fail({ kind: "down" });
    const proxy = proxyOf(w, upstream);
    const unavailable = (error: unknown) => {
      assert.ok(error instanceof UpstreamError && error.kind === "unavailable", String(error));
      assert.deepEqual([toOciError(error)?.code, toOciError(error)?.status], ["UNAVAILABLE", 503]);
      return true;
    };
    await assert.rejects(proxy.getManifest(NAME, tag("latest"), GET), unavailable);
    await assert.rejects(proxy.getManifest(NAME, digest(image.digest), GET), unavailable);
    await assert.rejects(proxy.listTags(NAME, {}), unavailable);
    await assert.rejects(proxy.openBlob(NAME, image.config), unavailable);
    await assert.rejects(proxy.statBlob(NAME, image.config), unavailable);
  });

  test("refused credentials without a cached copy: not found here (MANIFEST_UNKNOWN), the refusal as cause", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    upstream.putImage(NAME, "latest", ["one"]);
    upstream.fail({ kind: "unauthorized" });
    const proxy = proxyOf(w, upstream);
    await assert.rejects(proxy.getManifest(NAME, tag("latest"), GET), (error: unknown) => {
      assert.ok(error instanceof NotFoundError && error.what === "manifest", String(error));
      assert.ok(error.cause instanceof UpstreamError && error.cause.kind === "unauthorized");
      assert.equal(toOciError(error)?.code, "MANIFEST_UNKNOWN");
      return true;
    });
  });

  test("a tag list falls back to the cached tags while the upstream is down", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    upstream.putImage(NAME, "latest", ["one"]);
    upstream.putImage(NAME, "v1", ["two"]);
    const proxy = proxyOf(w, upstream);
    await proxy.getManifest(NAME, tag("v1"), GET);
    assert.deepEqual(await proxy.listTags(NAME, {}), { tags: ["latest", "v1"], more: false });
    upstream.fail({ kind: "down" });
    assert.deepEqual(await proxy.listTags(NAME, {}), { tags: ["v1"], more: false });
    await assert.rejects(
      proxy.listTags("library/never-pulled", {}),
      (error: unknown) => error instanceof UpstreamError,
    );
  });

  test("an upstream 404 on a tags list is a NotFoundError of the name", async (t) => {
    const w = await world(t);
    const proxy = proxyOf(w, new FakeUpstream());
    await assert.rejects(
      proxy.listTags("library/nothing", {}),
      (error: unknown) => error instanceof NotFoundError && error.what === "name",
    );
  });
});
