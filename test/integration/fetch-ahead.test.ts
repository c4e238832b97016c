// Issue 11 where a user would see it: layers fetched ahead of a real client (skopeo, one blob at a
// time), a lazy-pulling reader's ranged GETs of a big cold blob answered 206 at once with exactly
// the upstream's bytes while the whole blob fills once and verifies, fetch-ahead stopping when the
// upstream fails, and downloads for a client that went away cancelled with nothing left behind.
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { repositoryScope, tokenFlowRequest } from "../harness/auth/token-flow.js";
import { skopeoCopy } from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { rangeParts } from "../harness/http/multipart.js";
import { ACCEPT_MANIFESTS, rawRequest, sha256 } from "../harness/http/requests.js";
import { expectedContent, getImage, layoutBytes } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import type { FaultProxy } from "../harness/upstream/fault-proxy.js";
import { blobPath, spoolEntries, waitSpoolEmpty, waitStored } from "../harness/wharf/data.js";
import type { Wharf } from "../harness/wharf/start.js";

const MiB = 1024 * 1024;

describe("fetch-ahead and ranged cold reads with real peers", () => {
  let fx: ProxyFixture;
  let proxy: FaultProxy;
  const lazy = getImage("big", { seed: 11, bigLayerBytes: 48 * MiB, bigLayerCount: 1 });
  const layered = getImage("big", { seed: 12, bigLayerBytes: 2 * MiB, bigLayerCount: 6 });
  const failing = getImage("big", { seed: 13, bigLayerBytes: 1 * MiB, bigLayerCount: 4 });
  const abandoned = getImage("big", { seed: 14, bigLayerBytes: 4 * MiB, bigLayerCount: 3 });
  const chunked = getImage("big", { seed: 15, bigLayerBytes: 24 * MiB, bigLayerCount: 1 });

  before(async () => {
    fx = await withProxy({
      upstream: {
        images: [
          { image: lazy, ref: "library/lazy:latest", timeoutMs: 120_000 },
          { image: layered, ref: "library/layered:latest" },
          { image: failing, ref: "library/failing:latest" },
          { image: abandoned, ref: "library/abandoned:latest" },
          { image: chunked, ref: "library/chunked:latest", timeoutMs: 120_000 },
        ],
      },
      faults: {},
      wharf: false,
    });
    proxy = fx.faults;
  });
  after(() => fx?.close());

  /** A wharf reading through the fault proxy, fetching ahead as a fresh one does. */
  function startWharf(fetchAhead: Record<string, unknown> = {}): Promise<Wharf> {
    return fx.startWharf({
      fetchAhead: true,
      config: (upstream) => ({
        auth: { enabled: false },
        repositories: {
          hub: {
            type: "proxy",
            upstream: { url: upstream.url, library_prefix: true },
            fetch_ahead: fetchAhead,
          },
        },
      }),
    });
  }

  const aheadLines = (wharf: Wharf) =>
    wharf.logLines().filter((l) => l.msg === "blob fetched from upstream" && l.ahead === true);

  test("a stargz-style reader: ranges at random offsets of a big cold blob, 206 at once, exact, one whole download", async () => {
    const wharf = await startWharf();
    try {
      const layer = lazy.manifests[0]?.layers[0];
      assert.ok(layer && layer.size > 40 * MiB);
      const bytes = layoutBytes(lazy, layer.digest);
      // The whole blob trickles in (12 s); a ranged answer (206) passes the fault proxy untouched.
      proxy.setMode("slow-blob", { bytesPerSec: 4 * MiB, digests: [layer.digest] });
      proxy.resetStats();
      // What a lazy-pulling snapshotter does first: the manifest, which starts the blob's download.
      const manifest = await rawRequest(wharf.url, "/v2/lazy/manifests/latest", {
        headers: { accept: ACCEPT_MANIFESTS },
      });
      assert.equal(manifest.status, 200);
      const started = performance.now();
      for (let i = 0; i < 16; i++) {
        const start: number = randomInt(8 * MiB, layer.size - 64 * 1024);
        const end: number = start + randomInt(1, 64 * 1024);
        const res = await rawRequest(wharf.url, `/v2/lazy/blobs/${layer.digest}`, {
          headers: { range: `bytes=${start}-${end}` },
        });
        assert.equal(res.status, 206, `bytes=${start}-${end}`);
        assert.equal(res.headers["content-range"], `bytes ${start}-${end}/${layer.size}`);
        assert.ok(
          res.body.equals(bytes.subarray(start, end + 1)),
          `bytes=${start}-${end}: the upstream's bytes`,
        );
      }
      const rangedSeconds = (performance.now() - started) / 1000;
      assert.equal(
        fs.existsSync(blobPath(wharf.dataDir, layer.digest)),
        false,
        `the ranges (${rangedSeconds.toFixed(1)} s) never waited for the whole blob`,
      );
      assert.ok((await waitStored(wharf.dataDir, [layer.digest], 60_000)).includes(layer.digest));
      const whole = proxy.requests().filter((r) => r.method === "GET" && r.path.endsWith(layer.digest));
      assert.equal(whole.filter((r) => r.status === 200).length, 1, "the whole blob downloaded once");
      assert.equal(whole.filter((r) => r.status === 206).length, 16, "each range asked upstream once");
      const stored = await rawRequest(wharf.url, `/v2/lazy/blobs/${layer.digest}`);
      assert.equal(stored.headers["x-wharf-cache"], "hit");
      assert.equal(sha256(stored.body), layer.digest, "verified whole");
      assert.ok(
        !wharf.logLines().some((l) => String(l.msg).startsWith("upstream answered a Range")),
        "every range matched the verified blob",
      );
    } finally {
      proxy.setMode("ok");
      await wharf.close();
    }
  });

  test("several ranges in one request, as stargz's fetcher sends: 206 multipart at once, docker-registry's parts, one whole download", async () => {
    const wharf = await startWharf();
    try {
      const layer = chunked.manifests[0]?.layers[0];
      assert.ok(layer);
      const bytes = layoutBytes(chunked, layer.digest);
      proxy.setMode("slow-blob", { bytesPerSec: 4 * MiB, digests: [layer.digest] });
      proxy.resetStats();
      const path = (name: string) => `/v2/${name}/blobs/${layer.digest}`;
      const range = `bytes=${20 * MiB}-${20 * MiB + 999}, -500, 4096-8191, ${16 * MiB}-${16 * MiB + 70_000}`;
      const cold = await rawRequest(wharf.url, path("chunked"), { headers: { range } });
      assert.equal(cold.status, 206);
      const parts = rangeParts(String(cold.headers["content-type"]), cold.body);
      assert.equal(Number(cold.headers["content-length"]), cold.body.length);
      const upstream = await tokenFlowRequest(fx.upstream.url, path("library/chunked"), {
        creds: fx.upstream.creds,
        scopes: [repositoryScope("library/chunked", "pull")],
        headers: { range },
      });
      assert.equal(upstream.status, 206, "docker-registry answers several ranges in parts too");
      assert.deepEqual(
        parts.map((p) => p.contentRange),
        rangeParts(String(upstream.headers["content-type"]), upstream.body).map((p) => p.contentRange),
        "the same parts, in the same order",
      );
      for (const part of parts) {
        const [start, end] = (/^bytes (\d+)-(\d+)\//.exec(part.contentRange) ?? []).slice(1).map(Number);
        assert.ok(part.bytes.equals(bytes.subarray(start, (end ?? 0) + 1)), `${part.contentRange}: exact`);
      }
      assert.equal(
        fs.existsSync(blobPath(wharf.dataDir, layer.digest)),
        false,
        "answered before the blob was whole",
      );
      assert.ok((await waitStored(wharf.dataDir, [layer.digest], 60_000)).includes(layer.digest));
      const whole = proxy.requests().filter((r) => r.method === "GET" && r.path.endsWith(layer.digest));
      assert.equal(whole.filter((r) => r.status === 200).length, 1, "the whole blob downloaded once");
      const warm = await rawRequest(wharf.url, path("chunked"), { headers: { range } });
      assert.equal(warm.headers["x-wharf-cache"], "hit");
      assert.deepEqual(
        rangeParts(String(warm.headers["content-type"]), warm.body).map((p) => p.bytes.toString("hex")),
        parts.map((p) => p.bytes.toString("hex")),
        "the same parts from the cache",
      );
      const stored = await rawRequest(wharf.url, path("chunked"));
      assert.equal(sha256(stored.body), layer.digest, "verified whole");
    } finally {
      proxy.setMode("ok");
      await wharf.close();
    }
  });

  test("skopeo, one blob at a time: the rest is fetched ahead, every blob once, byte-exact", async () => {
    const wharf = await startWharf();
    try {
      proxy.setMode("slow-blob", { bytesPerSec: 8 * MiB, digests: layered.blobs.map((b) => b.digest) });
      proxy.resetStats();
      const r = await skopeoCopy(`${wharf.host}/layered:latest`, makeTempDir("pull"), { timeoutMs: 120_000 });
      assert.deepEqual(r.content, expectedContent(layered));
      const gets = proxy.stats().blobGet;
      assert.deepEqual(gets, Object.fromEntries(layered.blobs.map((b) => [b.digest, 1])), "each blob once");
      assert.ok(aheadLines(wharf).length >= layered.blobs.length - 1, "all but the first asked were ahead");
      // skopeo hangs up the moment it has a body, often before the end of the answer is written.
      const cut = wharf.logLines().filter((l) => l.msg === "request" && l.aborted === true);
      assert.deepEqual(cut, [], "every answer skopeo read whole is logged whole");
    } finally {
      proxy.setMode("ok");
      await wharf.close();
    }
  });

  test("an upstream failing: fetching ahead stops, nothing is kept, and the client's pull works after", async () => {
    const wharf = await startWharf({ concurrency: 2 });
    try {
      proxy.setMode("cut-blob", { digests: failing.blobs.map((b) => b.digest) });
      proxy.resetStats();
      const manifest = await rawRequest(wharf.url, "/v2/failing/manifests/latest", {
        headers: { accept: ACCEPT_MANIFESTS },
      });
      assert.equal(manifest.status, 200);
      await wharf.waitLog((l) => String(l.msg).startsWith("fetching ahead paused"), 20_000);
      await waitSpoolEmpty(wharf.dataDir);
      const tried = Object.values(proxy.stats().blobGet).reduce((n, c) => n + c, 0);
      assert.ok(tried <= 2, `no more than its two slots tried: ${tried}`);
      for (const blob of failing.blobs)
        assert.equal(fs.existsSync(blobPath(wharf.dataDir, blob.digest)), false);
      proxy.setMode("ok");
      const r = await skopeoCopy(`${wharf.host}/failing:latest`, makeTempDir("pull"), { timeoutMs: 60_000 });
      assert.deepEqual(r.content, expectedContent(failing));
    } catch (error) {
      for (const line of wharf.logLines()) console.error(JSON.stringify(line).slice(0, 400));
      throw error;
    } finally {
      proxy.setMode("ok");
      await wharf.close();
    }
  });

  test("the client went away: what was fetched ahead for it is cancelled, nothing left in data/tmp", async () => {
    const wharf = await startWharf({ idle_timeout: "1s" });
    try {
      // 4 MiB layers at 256 KiB/s: each would take 16 s
      proxy.setMode("slow-blob", { bytesPerSec: 256 * 1024, digests: abandoned.blobs.map((b) => b.digest) });
      proxy.resetStats();
      const manifest = await rawRequest(wharf.url, "/v2/abandoned/manifests/latest", {
        headers: { accept: ACCEPT_MANIFESTS },
      });
      assert.equal(manifest.status, 200);
      await wharf.waitLog((l) => l.msg === "download cancelled; nothing was cached", 20_000);
      await waitSpoolEmpty(wharf.dataDir);
      assert.deepEqual(spoolEntries(wharf.dataDir), []);
      for (const blob of abandoned.blobs) {
        if (blob.size < MiB) continue;
        assert.equal(fs.existsSync(blobPath(wharf.dataDir, blob.digest)), false, blob.digest);
      }
    } finally {
      proxy.setMode("ok");
      await wharf.close();
    }
  });
});
