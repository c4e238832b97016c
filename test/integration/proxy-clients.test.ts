// Issue 2, case 2: each real client, configured the way a user would make wharf its docker.io
// mirror, pulls cold (every blob crosses from upstream once) and warm (nothing crosses), and gets
// exactly the bytes that were pushed.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  ctrPull,
  dockerdPull,
  dockerHubMirror,
  dockerHubMirrorHosts,
  podmanPull,
  skopeoCopy,
} from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { allDigests, expectedContent, getImage, type TestImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import type { Wharf } from "../harness/wharf/start.js";

interface Traffic {
  /** Upstream blob GETs, whatever their answer (a ranged 206 is a download too), per digest. */
  blobGets: Record<string, number>;
  manifestGets: number;
}

describe("real clients pull through wharf as their docker.io mirror", () => {
  let fx: ProxyFixture;
  const small = getImage("small");
  const docker = getImage("docker");
  const multi = getImage("multi");
  const many = getImage("many");

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
      // each client gets a wharf of its own, cold
      wharf: false,
    });
  });
  after(() => fx?.close());

  /** What one pull cost upstream, counted from the upstream's access log. */
  async function traffic(pull: () => Promise<void>): Promise<Traffic> {
    const up = fx.upstream;
    await up.settle();
    const mark = up.mark();
    await pull();
    await up.settle();
    const blobGets: Record<string, number> = {};
    let manifestGets = 0;
    for (const e of up.requests(mark)) {
      if (e.method !== "GET") continue;
      const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(e.path)?.[1];
      if (blob) blobGets[blob] = (blobGets[blob] ?? 0) + 1;
      else if (e.path.includes("/manifests/")) manifestGets++;
    }
    return { blobGets, manifestGets };
  }

  /** Cold: each of the image's blobs fetched once. Warm: no blob, no manifest GET upstream. */
  async function coldThenWarm(image: TestImage, pull: (wharf: Wharf) => Promise<void>): Promise<void> {
    // the defaults, authentication and fetch-ahead on: these pulls are anonymous, which proxies
    // allow, and a blob fetched ahead of the client still crosses once
    const wharf = await fx.startWharf({ secured: true, fetchAhead: true });
    try {
      const cold = await traffic(() => pull(wharf));
      const want = Object.fromEntries(expectedContent(image).blobs.map((b) => [b.digest, 1]));
      assert.deepEqual(cold.blobGets, want, "cold: every blob once from upstream");
      assert.ok(cold.manifestGets >= 1, "cold: the manifest came from upstream");
      const warm = await traffic(() => pull(wharf));
      assert.deepEqual(warm, { blobGets: {}, manifestGets: 0 }, "warm: served from wharf alone");
      const served = wharf.logLines().filter((l) => l.msg === "request" && l.status === 200);
      assert.ok(served.length > 0, "the client went through wharf");
    } finally {
      await wharf.close();
    }
  }

  test("skopeo with registries.conf mirroring docker.io (OCI image)", async () => {
    await coldThenWarm(small, async (wharf) => {
      const r = await skopeoCopy("docker.io/library/small:latest", makeTempDir("pull"), {
        registriesConf: dockerHubMirror(wharf.host),
      });
      assert.deepEqual(r.content, expectedContent(small));
    });
  });

  test("podman with [[registry.mirror]] (Docker schema 2 image, short name)", async () => {
    await coldThenWarm(docker, async (wharf) => {
      const r = await podmanPull("docker", { registriesConf: dockerHubMirror(wharf.host) });
      assert.equal(r.digest, docker.digest);
      assert.equal(`sha256:${r.id}`, docker.manifests[0]?.config.digest);
    });
  });

  test("containerd (ctr) with hosts.toml for docker.io (multi-arch index)", async () => {
    await coldThenWarm(multi, async (wharf) => {
      const r = await ctrPull("docker.io/library/multi:latest", { hosts: dockerHubMirrorHosts(wharf.url) });
      assert.equal(r.digest, multi.digest);
      // ctr keeps the index, this platform's manifest, its config and layers, each re-hashed
      const want = [multi.digest, ...allDigests(expectedContent(multi))].sort();
      assert.deepEqual(
        r.content.map((c) => c.digest),
        want,
      );
    });
  });

  test("dockerd with registry-mirrors (40 layers)", async () => {
    await coldThenWarm(many, async (wharf) => {
      const r = await dockerdPull("many", { mirrors: [wharf.url] });
      assert.equal(r.digest, many.digest);
      assert.equal(r.id, many.manifests[0]?.config.digest);
    });
  });
});
