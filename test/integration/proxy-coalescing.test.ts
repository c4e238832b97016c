// Issue 2, cases 3 and 11 (DESIGN invariants 3 and 6): concurrent cold pulls share one upstream
// download per blob, bytes reach the first client while they arrive, late clients join the running
// download, and wharf's memory does not grow with blob size or client count.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { skopeoCopy } from "../harness/clients/index.js";
import { type StreamedBody, streamGet } from "../harness/http/requests.js";
import { pushImage } from "../harness/images/push.js";
import { expectedContent, getImage } from "../harness/images/test-images.js";
import { processMemory } from "../harness/system/proc-status.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { type FaultProxy, startFaultProxy } from "../harness/upstream/fault-proxy.js";
import { blobPath } from "../harness/wharf/data.js";
import { proxyEnv } from "../harness/wharf/proxy-env.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

const MiB = 1024 * 1024;
/** Far above a streaming server's needs, far below 10 clients × a buffered 200 MiB blob. */
const MEMORY_BOUND = 300 * MiB;

describe("coalesced, streamed cold pulls through a throttled upstream", () => {
  let up: Upstream;
  let proxy: FaultProxy;
  let wharf: Wharf;
  const big = getImage("big");
  const big2 = getImage("big", { seed: 2 });
  const huge = getImage("big", { bigLayerBytes: 200 * MiB, bigLayerCount: 1 });

  before(async () => {
    up = await startUpstream({ auth: "token" });
    await pushImage(big, up, "library/big:latest");
    await pushImage(big2, up, "library/big2:latest");
    await pushImage(huge, up, "library/huge:latest", { timeoutMs: 180_000 });
    proxy = await startFaultProxy({ target: up.url });
    wharf = await startWharf({ env: proxyEnv(proxy.url) });
  });
  after(async () => {
    await wharf?.close();
    await proxy?.close();
    await up?.close();
  });

  /** Manifest GETs the upstream answered with content: what Docker Hub counts as pulls. */
  const countedManifestGets = () =>
    proxy.requests().filter((r) => r.method === "GET" && r.path.includes("/manifests/") && r.status === 200)
      .length;

  /** Blob downloads the upstream served, per digest (a 401 on the way to a token moves no bytes). */
  function blobDownloads(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of proxy.requests()) {
      const digest = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(r.path)?.[1];
      if (digest && r.method === "GET" && r.status === 200) counts[digest] = (counts[digest] ?? 0) + 1;
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
    assert.equal(countedManifestGets(), 1);
  });

  test("the first client gets bytes before the blob is complete; late clients join the same download", async () => {
    const layer = big2.manifests[0]!.layers[0]!;
    const path = `/v2/big2/blobs/${layer.digest}`;
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
          storedWhenFirstBytes = fs.existsSync(blobPath(wharf.dataDir, layer.digest));
          reached();
        }
      },
    });
    await Promise.race([firstMiB, first]);
    assert.equal(storedWhenFirstBytes, false, "1 MiB reached the client before the blob was stored");
    const late = await Promise.all(Array.from({ length: 4 }, () => streamGet(wharf.url, path)));
    const all: StreamedBody[] = [await first, ...late];
    for (const r of all) {
      assert.deepEqual([r.status, r.complete, r.bytes, r.digest], [200, true, layer.size, layer.digest]);
    }
    assert.deepEqual(blobDownloads(), { [layer.digest]: 1 });
    // Clients finish as soon as the digest checks out; the move into the store follows within moments.
    const deadline = Date.now() + 5000;
    while (!fs.existsSync(blobPath(wharf.dataDir, layer.digest)) && Date.now() < deadline) await sleep(20);
    assert.ok(fs.existsSync(blobPath(wharf.dataDir, layer.digest)), "stored once verified");
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
