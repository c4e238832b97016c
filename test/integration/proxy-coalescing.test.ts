// Issue 2, cases 3 and 11 (DESIGN invariants 3 and 6): concurrent cold pulls share one upstream
// download per blob, bytes reach the first client while they arrive, late clients join the running
// download, and wharf's memory does not grow with blob size or client count.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { skopeoCopy } from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { type StreamedBody, streamGet } from "../harness/http/requests.js";
import { expectedContent, getImage } from "../harness/images/test-images.js";
import { processMemory } from "../harness/system/proc-status.js";
import { makeTempDir } from "../harness/system/tmp.js";
import type { FaultProxy } from "../harness/upstream/fault-proxy.js";
import { blobPath, waitStored } from "../harness/wharf/data.js";
import type { Wharf } from "../harness/wharf/start.js";

const MiB = 1024 * 1024;
/** Far above a streaming server's needs, far below 10 clients × a buffered 200 MiB blob. */
const MEMORY_BOUND = 300 * MiB;

describe("coalesced, streamed cold pulls through a throttled upstream", () => {
  let fx: ProxyFixture;
  let proxy: FaultProxy;
  let wharf: Wharf;
  const big = getImage("big");
  const big2 = getImage("big", { seed: 2 });
  const huge = getImage("big", { bigLayerBytes: 200 * MiB, bigLayerCount: 1 });

  before(async () => {
    fx = await withProxy({
      upstream: {
        images: [
          { image: big, ref: "library/big:latest" },
          { image: big2, ref: "library/big2:latest" },
          { image: huge, ref: "library/huge:latest", timeoutMs: 180_000 },
        ],
      },
      faults: {},
    });
    ({ faults: proxy, wharf } = fx);
  });
  after(() => fx?.close());

  /**
   * Manifest GETs with credentials that reached the upstream, whatever it answered: what Docker Hub
   * counts as pulls (the challenge probe before the first token carries none and counts nothing).
   */
  const manifestGets = () =>
    proxy.requests().filter((r) => r.method === "GET" && r.path.includes("/manifests/") && r.authorized)
      .length;

  /** Blob GETs that reached the upstream per digest, whatever it answered: a ranged 206 is a download too. */
  function blobDownloads(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of proxy.requests()) {
      const digest = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(r.path)?.[1];
      if (digest && r.method === "GET") counts[digest] = (counts[digest] ?? 0) + 1;
    }
    return counts;
  }

  test("10 concurrent skopeo pulls of a cold image: one upstream GET per blob, one manifest GET", async () => {
    // throttled so that the ten pulls really overlap instead of finishing one after the other
    proxy.setMode("slow-blob", { bytesPerSec: 8 * MiB });
    proxy.resetStats();
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        skopeoCopy(`${wharf.host}/big:latest`, makeTempDir("pull"), { timeoutMs: 120_000 }),
      ),
    );
    for (const r of results) assert.deepEqual(r.content, expectedContent(big));
    const want = Object.fromEntries(big.blobs.map((b) => [b.digest, 1]));
    assert.deepEqual(blobDownloads(), want);
    assert.equal(manifestGets(), 1);
  });

  test("the first client gets bytes before the blob is complete; late clients join the same download", async () => {
    const layer = big2.manifests[0]!.layers[0]!;
    const path = `/v2/big2/blobs/${layer.digest}`;
    const stored = () => fs.existsSync(blobPath(wharf.dataDir, layer.digest));
    // 8 MiB at 2 MiB/s: the download runs on for seconds after the late clients ask
    proxy.setMode("slow-blob", { bytesPerSec: 2 * MiB, digests: [layer.digest] });
    proxy.resetStats();
    let storedWhenFirstBytes: boolean | undefined;
    let reached!: () => void;
    const firstMiB = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const first = streamGet(wharf.url, path, {
      onData: (n) => {
        if (n >= MiB && storedWhenFirstBytes === undefined) {
          storedWhenFirstBytes = stored();
          reached();
        }
      },
    });
    await Promise.race([firstMiB, first]);
    assert.equal(storedWhenFirstBytes, false, "1 MiB reached the client before the blob was stored");
    // A late client served from the store would be told `hit`, and could get its first byte only
    // once the blob is stored: `miss`, with bytes before that, is a client reading the download.
    const storedAtLateFirstBytes: boolean[] = [];
    const late = await Promise.all(
      Array.from({ length: 4 }, () => {
        let seen = false;
        return streamGet(wharf.url, path, {
          onData: () => {
            if (seen) return;
            seen = true;
            storedAtLateFirstBytes.push(stored());
          },
        });
      }),
    );
    const all: StreamedBody[] = [await first, ...late];
    for (const r of all) {
      assert.deepEqual([r.status, r.complete, r.bytes, r.digest], [200, true, layer.size, layer.digest]);
    }
    assert.deepEqual(
      late.map((r) => r.headers["x-wharf-cache"]),
      ["miss", "miss", "miss", "miss"],
      "the late clients were not served from the store",
    );
    assert.deepEqual(
      storedAtLateFirstBytes,
      [false, false, false, false],
      "their bytes came before it was stored",
    );
    assert.deepEqual(blobDownloads(), { [layer.digest]: 1 });
    // Clients finish as soon as the digest checks out; the move into the store follows within moments.
    assert.ok(
      (await waitStored(wharf.dataDir, [layer.digest])).includes(layer.digest),
      "stored once verified",
    );
  });

  test("10 concurrent GETs of a 200 MiB blob, cold then warm: one upstream GET, memory stays flat", async () => {
    const layer = huge.manifests[0]!.layers[0]!;
    assert.ok(layer.size > 200 * MiB);
    const path = `/v2/huge/blobs/${layer.digest}`;
    proxy.setMode("slow-blob", { bytesPerSec: 64 * MiB, digests: [layer.digest] });
    proxy.resetStats();
    const pid = wharf.pid();
    const base = processMemory(pid).rss;
    let peak = processMemory(pid).peak;
    const sampler = setInterval(() => {
      peak = Math.max(peak, processMemory(pid).peak);
    }, 100);
    try {
      for (const round of ["cold", "warm"]) {
        const results = await Promise.all(
          Array.from({ length: 10 }, () => streamGet(wharf.url, path, { timeoutMs: 300_000 })),
        );
        for (const r of results) {
          assert.deepEqual(
            [r.status, r.complete, r.bytes, r.digest],
            [200, true, layer.size, layer.digest],
            round,
          );
        }
      }
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, processMemory(pid).peak);
    assert.deepEqual(blobDownloads(), { [layer.digest]: 1 });
    const report = `wharf peaked at ${Math.round(peak / MiB)} MiB resident, from ${Math.round(base / MiB)} MiB`;
    assert.ok(peak < MEMORY_BOUND, report);
    // holding the blob whole even once, for all clients together, would grow it by more than this
    assert.ok(peak - base < layer.size, report);
  });
});
