// Issue 2, cases 4 and 9: when the upstream fails (503, dropped connections, stopped), what is
// cached still pulls by tag (served stale, and the response says so) and by digest, including
// a multi-arch index by its digest; what is not cached fails at once with a spec error. A restart
// cleans the spool's debris and serves the cache with the upstream still down.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ctrPull,
  dockerHubMirror,
  dockerHubMirrorHosts,
  podmanPull,
  skopeoCopy,
} from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { ACCEPT_MANIFESTS, errorCodes, rawRequest } from "../harness/http/requests.js";
import { allDigests, expectedContent, getImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import type { Upstream } from "../harness/upstream/docker-registry.js";
import type { FaultProxy } from "../harness/upstream/fault-proxy.js";
import { spoolEntries } from "../harness/wharf/data.js";
import type { Wharf } from "../harness/wharf/start.js";

describe("upstream outage", () => {
  let fx: ProxyFixture;
  let up: Upstream;
  let proxy: FaultProxy;
  /** Talks to the upstream directly: for the stopped upstream. */
  let direct: Wharf;
  /** Talks to it through the fault proxy: for 503s and dropped connections. */
  let viaProxy: Wharf;
  const small = getImage("small");
  const docker = getImage("docker");
  const multi = getImage("multi");
  const many = getImage("many");
  const get = (wharf: Wharf, p: string, method = "GET") =>
    rawRequest(wharf.url, p, { method, headers: { accept: ACCEPT_MANIFESTS }, timeoutMs: 20_000 });
  const pullSmall = async (wharf: Wharf, ref = "small:latest") => {
    const r = await skopeoCopy(`${wharf.host}/${ref}`, makeTempDir("pull"));
    assert.deepEqual(r.content, expectedContent(small));
  };

  /** A tag answered from the cache because upstream failed: the last known digest, marked stale. */
  async function assertStaleTag(wharf: Wharf, name: string, digest: string) {
    for (const method of ["GET", "HEAD"]) {
      const res = await get(wharf, `/v2/${name}/manifests/latest`, method);
      assert.equal(res.status, 200, `${method} ${res.body.toString()}`);
      assert.equal(res.headers["docker-content-digest"], digest);
      assert.equal(res.headers["x-wharf-cache"], "stale");
      assert.match(String(res.headers.warning), /^110 /);
    }
  }

  /** Content never cached: a prompt 503 with a spec error body. */
  async function assertUncachedFails(wharf: Wharf) {
    const layer = many.manifests[0]!.layers[0]!;
    for (const [method, p] of [
      ["GET", "/v2/many/manifests/latest"],
      ["GET", `/v2/many/manifests/${many.digest}`],
      ["GET", `/v2/many/blobs/${layer.digest}`],
    ]) {
      const res = await get(wharf, p as string, method);
      assert.equal(res.status, 503, `${method} ${p}: ${res.body.toString()}`);
      assert.deepEqual(errorCodes(res.body), ["UNAVAILABLE"], `${method} ${p}`);
    }
    const head = await get(wharf, `/v2/many/blobs/${layer.digest}`, "HEAD");
    assert.equal(head.status, 503);
  }

  before(async () => {
    fx = await withProxy({
      upstream: {
        images: [
          { image: small, ref: "library/small:latest" },
          { image: docker, ref: "library/docker:latest" },
          { image: multi, ref: "library/multi:latest", all: true },
          { image: many, ref: "library/many:latest" },
        ],
      },
      faults: {},
      wharf: false,
    });
    ({ upstream: up, faults: proxy } = fx);
    // TTL 0: every tag request asks upstream, so every one of them meets the outage
    direct = await fx.startWharf({ tagTtl: "0", direct: true });
    viaProxy = await fx.startWharf({ tagTtl: "0" });
    await pullSmall(viaProxy);
    await pullSmall(direct);
    await podmanPull("docker", { registriesConf: dockerHubMirror(direct.host) });
    await ctrPull("docker.io/library/multi:latest", { hosts: dockerHubMirrorHosts(direct.url) });
  });
  after(() => fx?.close());

  for (const mode of ["down", "drop"] as const) {
    test(`upstream ${mode === "down" ? "answering 503" : "dropping connections"}: cached tag served stale, uncached 503`, async () => {
      // this iteration's lines only: the previous mode's would pass the log checks for it
      const mark = viaProxy.logMark();
      proxy.setMode(mode);
      try {
        await assertStaleTag(viaProxy, "small", small.digest);
        await pullSmall(viaProxy);
        await pullSmall(viaProxy, `small@${small.digest}`);
        await assertUncachedFails(viaProxy);
        const lines = viaProxy.logLines(mark);
        const stale = lines.filter((l) => l.msg === "request" && l.cache === "stale");
        assert.ok(stale.length > 0, "the request log marks the stale answers");
        const told = lines.filter(
          (l) => Number(l.level) >= 50 && l.msg === "upstream unavailable; serving what is cached",
        );
        assert.equal(told.length, 1, "one error line says the upstream failed, however many requests met it");
      } finally {
        proxy.setMode("ok");
      }
      // Health is logged once per change: wharf must see the upstream back before the next outage,
      // or that one would be no change to log.
      const healed = viaProxy.logMark();
      const tag = await get(viaProxy, "/v2/small/manifests/latest");
      assert.equal(tag.headers["x-wharf-cache"], "revalidated", "the upstream answers again");
      await viaProxy.waitLog((l) => l.msg === "upstream available again", 10_000, healed);
    });
  }

  describe("upstream stopped", () => {
    before(() => up.stop());

    test("cached tags and digests pull with skopeo, podman and ctr; the tag says stale", async () => {
      await assertStaleTag(direct, "small", small.digest);
      await pullSmall(direct);
      await pullSmall(direct, `small@${small.digest}`);
      const p = await podmanPull("docker", { registriesConf: dockerHubMirror(direct.host) });
      assert.equal(p.digest, docker.digest);
      const c = await ctrPull("docker.io/library/multi:latest", { hosts: dockerHubMirrorHosts(direct.url) });
      assert.equal(c.digest, multi.digest);
      assert.deepEqual(
        c.content.map((x) => x.digest),
        [multi.digest, ...allDigests(expectedContent(multi))].sort(),
      );
    });

    test("a multi-arch index pulled through wharf resolves by its digest offline", async () => {
      const r = await skopeoCopy(`${direct.host}/multi@${multi.digest}`, makeTempDir("pull"));
      assert.deepEqual(r.content, expectedContent(multi));
    });

    test("uncached content fails at once with 503 and a spec error body; skopeo fails, not hangs", async () => {
      await assertUncachedFails(direct);
      await assert.rejects(
        skopeoCopy(`${direct.host}/many:latest`, makeTempDir("pull"), { timeoutMs: 60_000 }),
        /: received unexpected HTTP status: 503 Service Unavailable"$/m,
      );
      assert.equal((await get(direct, "/v2/")).status, 200, "wharf still serving");
    });

    test("restart removes spool debris and serves the cache with the upstream still stopped", async () => {
      await direct.stop();
      const tmp = path.join(direct.dataDir, "tmp");
      fs.writeFileSync(path.join(tmp, "fill-interrupted"), Buffer.alloc(1024 * 1024, 1));
      fs.mkdirSync(path.join(tmp, "upload-interrupted"));
      fs.writeFileSync(path.join(tmp, "upload-interrupted", "data"), "junk");
      await direct.restart();
      assert.deepEqual(spoolEntries(direct.dataDir), []);
      const cleaned = direct.logLines().find((l) => l.msg === "removed leftovers of interrupted writes");
      assert.equal(cleaned?.files, 2);
      await assertStaleTag(direct, "small", small.digest);
      await pullSmall(direct);
      const r = await skopeoCopy(`${direct.host}/multi@${multi.digest}`, makeTempDir("pull"));
      assert.deepEqual(r.content, expectedContent(multi));
    });
  });
});
