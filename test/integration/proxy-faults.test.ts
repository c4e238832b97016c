// Issue 2, cases 7 and 10 (DESIGN invariants 1 and 7): an upstream that cuts a blob or sends wrong
// bytes leaves nothing in the store or the spool, says so in the log, and the next pull succeeds
// once it is healthy; a full disk degrades to pass-through, not to failed pulls or a crash.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { skopeoCopy } from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { rawRequest, sha256, streamGet } from "../harness/http/requests.js";
import { expectedContent, getImage, type TestImage } from "../harness/images/test-images.js";
import { makeTempDir, removeTempDir } from "../harness/system/tmp.js";
import { mountTmpfs, type Tmpfs } from "../harness/system/tmpfs.js";
import type { FaultMode, FaultProxy } from "../harness/upstream/fault-proxy.js";
import { blobPath, storedDigests, waitSpoolEmpty } from "../harness/wharf/data.js";
import type { Wharf } from "../harness/wharf/start.js";

describe("faulty upstream and full disk", () => {
  let fx: ProxyFixture;
  const small = getImage("small");
  const docker = getImage("docker");
  const big = getImage("big");
  const many = getImage("many");
  // a pull of these images takes a second or two; a bounded wait turns a hang into a failure
  const pull = (wharf: Wharf, image: TestImage, name: string) =>
    skopeoCopy(`${wharf.host}/${name}:latest`, makeTempDir("pull"), { timeoutMs: 30_000 }).then((r) =>
      assert.deepEqual(r.content, expectedContent(image), name),
    );

  before(async () => {
    fx = await withProxy({
      upstream: {
        images: [
          { image: small, ref: "library/small:latest" },
          { image: docker, ref: "library/docker:latest" },
          { image: big, ref: "library/big:latest" },
          { image: many, ref: "library/many:latest" },
        ],
      },
      faults: {},
      wharf: false,
    });
  });
  after(() => fx?.close());

  describe("upstream cutting or corrupting a blob", () => {
    let proxy: FaultProxy;
    let wharf: Wharf;
    before(async () => {
      proxy = fx.faults;
      wharf = await fx.startWharf();
    });
    after(() => wharf?.close());

    const cases: Array<[FaultMode, TestImage, string, string]> = [
      ["cut-blob", small, "small", "upstream failed mid-blob; nothing was cached"],
      ["corrupt-blob", docker, "docker", "upstream sent corrupt content; nothing was cached"],
    ];
    for (const [mode, image, name, message] of cases) {
      test(`${mode}: the pull fails, nothing is stored or left in tmp, the log says why; then it heals`, async () => {
        const layer = image.manifests[0]!.layers.at(-1)!;
        let logged: Record<string, unknown> = {};
        proxy.setMode(mode, { digests: [layer.digest] });
        try {
          // the client's body ends short: wharf never hands over the last byte of unverified content
          await assert.rejects(
            pull(wharf, image, name),
            /msg="writing blob: happened during read: unexpected EOF"$/m,
          );
          // a client must never get the whole length of unverified bytes
          const raw = await streamGet(wharf.url, `/v2/${name}/blobs/${layer.digest}`);
          assert.ok(
            !raw.complete || raw.bytes < layer.size,
            `served ${raw.bytes} bytes, complete=${raw.complete}`,
          );
          assert.notEqual(raw.digest, layer.digest);
          assert.ok(proxy.stats().cut + proxy.stats().corrupted >= 2, "the fault hit both downloads");
          assert.ok(!storedDigests(wharf.dataDir).includes(layer.digest), "nothing stored for the digest");
          assert.deepEqual(await waitSpoolEmpty(wharf.dataDir), [], "no leftover in tmp");
          logged = await wharf.waitLog(
            (l) => l.digest === layer.digest && /nothing was cached/.test(String(l.msg)),
          );
          const again = await rawRequest(wharf.url, `/v2/${name}/blobs/${layer.digest}`, { method: "HEAD" });
          assert.notEqual(again.headers["x-wharf-cache"], "hit", "not served from the store");
        } finally {
          proxy.setMode("ok");
        }
        await pull(wharf, image, name);
        const stored = fs.readFileSync(blobPath(wharf.dataDir, layer.digest));
        assert.equal(sha256(stored), layer.digest);
        assert.equal(logged.msg, message, "the log line names the cause");
      });
    }
  });

  describe("a data directory on a 3 MiB disk", () => {
    let disk: Tmpfs;
    let wharf: Wharf;
    before(async () => {
      disk = await mountTmpfs(makeTempDir("disk"), "3m");
      wharf = await fx.startWharf({ direct: true, dataDir: disk.dir });
    });
    after(async () => {
      await wharf?.close();
      await disk?.unmount();
      if (disk) await removeTempDir(disk.dir);
    });

    test("an image whose layers do not fit still pulls byte-exact, passed through and logged", async () => {
      await pull(wharf, big, "big");
      const stored = storedDigests(wharf.dataDir);
      const layers = big.manifests[0]!.layers.map((l) => l.digest);
      assert.ok(
        layers.some((d) => !stored.includes(d)),
        "32 MiB of layers cannot all be on a 3 MiB disk",
      );
      await wharf.waitLog((l) => l.msg === "cannot spool blob; serving it uncached");
      assert.deepEqual(await waitSpoolEmpty(wharf.dataDir), [], "failed spool files are removed");
      assert.equal((await rawRequest(wharf.url, "/v2/")).status, 200, "still serving");
    });

    test("with the disk filled to the last byte, an uncached image (manifest included) still pulls", async () => {
      // a fresh process: nothing of the previous test's downloads holds space or frees it later
      await wharf.restart();
      fillDisk(path.join(wharf.dataDir, "filler"));
      await pull(wharf, many, "many");
      assert.equal((await rawRequest(wharf.url, "/v2/")).status, 200, "still serving");
      assert.deepEqual(await waitSpoolEmpty(wharf.dataDir), [], "failed spool files are removed");
    });

    test("wharf starts on a full data directory and serves what it has, passing the rest through", async () => {
      fillDisk(path.join(wharf.dataDir, "filler-2"));
      await wharf.restart();
      const manifest = await rawRequest(wharf.url, "/v2/big/manifests/latest", {
        headers: { accept: big.mediaType },
      });
      assert.equal(manifest.status, 200, manifest.body.toString());
      assert.equal(manifest.headers["docker-content-digest"], big.digest);
      await pull(wharf, big, "big");
    });
  });
});

/** Appends to `file` until the filesystem refuses (ENOSPC). */
function fillDisk(file: string): void {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const fd = fs.openSync(file, "a");
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  } finally {
    fs.closeSync(fd);
  }
}
