// Warm blobs go out with sendfile(2) when the native addon is built, through JavaScript streams
// otherwise (or with WHARF_SENDFILE=off); the tests require the addon, so both paths are proven.
// Both must send the same bytes for whole blobs and for every kind of range, and survive clients
// that leave halfway.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { rawRequest } from "../harness/http/requests.js";
import { pushImage } from "../harness/images/push.js";
import { getImage, layoutBytes } from "../harness/images/test-images.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { proxyEnv } from "../harness/wharf/proxy-env.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

/** Opens a blob download and hangs up after the first bytes arrive. */
function abandonDownload(base: string, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${path}`, (res) => {
      res.once("data", () => {
        req.destroy();
        resolve();
      });
    });
    req.on("error", (error) =>
      (error as NodeJS.ErrnoException).code === "ECONNRESET" ? resolve() : reject(error),
    );
  });
}

for (const sendfile of [true, false]) {
  describe(`warm blobs ${sendfile ? "with sendfile" : "streamed (WHARF_SENDFILE=off)"}`, () => {
    let up: Upstream;
    let wharf: Wharf;
    const big = getImage("big");
    const layer = big.manifests[0]?.layers[0];

    before(async () => {
      up = await startUpstream({ auth: "none" });
      await pushImage(big, up, "library/big:latest");
      const env = { ...proxyEnv(up.url), ...(sendfile ? {} : { WHARF_SENDFILE: "off" }) };
      wharf = await startWharf({ env });
    });
    after(async () => {
      await wharf?.close();
      await up?.close();
    });

    test("status says which path serves blobs, and it is the one this run tests", async () => {
      const status = JSON.parse((await rawRequest(wharf.url, "/api/status")).body.toString()) as {
        sendfile: boolean;
      };
      // `npm ci` falls back to streaming without a compiler; then this run would test the fallback twice.
      assert.equal(
        status.sendfile,
        sendfile,
        sendfile
          ? "the sendfile addon is not built (install g++, make and python3, then npm rebuild)"
          : "WHARF_SENDFILE=off did not switch sendfile off",
      );
    });

    test("whole blobs and ranges are byte-exact, cold and warm", async () => {
      assert.ok(layer);
      const bytes = layoutBytes(big, layer.digest);
      const path = `/v2/library/big/blobs/${layer.digest}`;
      for (const round of ["cold", "warm", "warm again"]) {
        const whole = await rawRequest(wharf.url, path);
        assert.equal(whole.status, 200, round);
        assert.equal(whole.headers["x-wharf-cache"], round === "cold" ? "miss" : "hit");
        assert.ok(whole.body.equals(bytes), `${round}: whole blob differs`);
      }
      const size = bytes.length;
      const ranges: ReadonlyArray<readonly [string, number, number]> = [
        ["bytes=0-0", 0, 0],
        ["bytes=100-199", 100, 199],
        [`bytes=${size - 10}-`, size - 10, size - 1],
        ["bytes=-4096", size - 4096, size - 1],
        [`bytes=1-${size * 2}`, 1, size - 1],
      ];
      for (const [range, start, end] of ranges) {
        const res = await rawRequest(wharf.url, path, { headers: { range } });
        assert.equal(res.status, 206, range);
        assert.equal(res.headers["content-range"], `bytes ${start}-${end}/${size}`, range);
        assert.ok(res.body.equals(bytes.subarray(start, end + 1)), `${range}: bytes differ`);
      }
      const beyond = await rawRequest(wharf.url, path, { headers: { range: `bytes=${size}-` } });
      assert.equal(beyond.status, 416);
      assert.equal(beyond.headers["content-range"], `bytes */${size}`);
    });

    test("clients that hang up halfway leave wharf serving everyone else", async () => {
      assert.ok(layer);
      const path = `/v2/library/big/blobs/${layer.digest}`;
      await Promise.all(Array.from({ length: 8 }, () => abandonDownload(wharf.url, path)));
      const bytes = layoutBytes(big, layer.digest);
      const after = await Promise.all(Array.from({ length: 4 }, () => rawRequest(wharf.url, path)));
      for (const res of after) assert.ok(res.status === 200 && res.body.equals(bytes));
      const aborted = wharf.logLines().filter((line) => line.msg === "request" && line.aborted === true);
      assert.ok(aborted.length >= 1, "the abandoned downloads are logged as aborted");
    });
  });
}
