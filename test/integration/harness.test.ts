// Proves the integration harness against real peers, without wharf: if this fails, fix the harness
// (or the machine: scripts/install-test-deps.sh) before reading anything into wharf's tests.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { fetchToken } from "../harness/auth/bearer.js";
import { ctrPull, dockerdPull, podmanPull, skopeoCopy } from "../harness/clients/index.js";
import { pushImage, type RegistryTarget } from "../harness/images/push.js";
import {
  allDigests,
  expectedContent,
  getImage,
  type ImageName,
  MediaTypes,
  type TestImage,
} from "../harness/images/test-images.js";
import { runCommand } from "../harness/system/proc.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { type FaultProxy, startFaultProxy } from "../harness/upstream/fault-proxy.js";

const ACCEPT = [MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest].join(", ");

/** fetch's error for a connection that failed this way (its cause's code), and not another. */
const causedBy = (code: string) => (error: Error) =>
  (error.cause as { code?: string } | undefined)?.code === code;

/** Pulls with skopeo into a dir: layout and compares it with the generated image. */
async function pullAndCompare(from: RegistryTarget, image: TestImage, repo: string, all = false) {
  const { content } = await skopeoCopy(`${from.host}/${repo}`, makeTempDir("pull"), {
    creds: from.creds,
    all,
  });
  assert.deepEqual(content, expectedContent(image, { all }));
}

test("every generated layout is read by skopeo with the generated digest, the same on every call", async () => {
  for (const name of ["small", "small-v2", "docker", "multi", "many", "big"] satisfies ImageName[]) {
    const image = getImage(name);
    const { stdout } = await runCommand("skopeo", ["inspect", "--raw", image.ref]);
    assert.equal(`sha256:${crypto.createHash("sha256").update(stdout).digest("hex")}`, image.digest, name);
    assert.deepEqual(getImage(name), image);
  }
  assert.equal(getImage("many").manifests[0]?.layers.length, 40);
  assert.notEqual(getImage("small-v2").digest, getImage("small").digest);
});

describe("token-auth upstream", () => {
  let up: Upstream;
  const small = getImage("small");
  const docker = getImage("docker");
  const multi = getImage("multi");

  before(async () => {
    up = await startUpstream({ auth: "token" });
    await pushImage(small, up, "library/small:latest");
    await pushImage(docker, up, "library/docker:latest");
    await pushImage(multi, up, "library/multi:latest", { all: true });
  });
  after(() => up?.close());

  test("challenges anonymous requests with the token server's realm", async () => {
    const res = await fetch(`${up.url}/v2/`);
    assert.equal(res.status, 401);
    const challenge = res.headers.get("www-authenticate") ?? "";
    assert.match(challenge, new RegExp(`^Bearer realm="${up.tokenServer?.realm}",service="`));
  });

  test("skopeo pulls each image back byte-exact", async () => {
    await pullAndCompare(up, small, "library/small:latest");
    await pullAndCompare(up, docker, "library/docker:latest");
    await pullAndCompare(up, multi, "library/multi:latest", true);
    await pullAndCompare(up, multi, "library/multi:latest");
  });

  test("the token server grants anonymous pull only, and refuses wrong credentials", async () => {
    const ts = up.tokenServer!;
    const anon = await fetchToken(ts, ["repository:library/small:pull,push"]);
    const claims = JSON.parse(Buffer.from(anon.split(".")[1] ?? "", "base64url").toString()) as {
      access: Array<{ actions: string[] }>;
    };
    assert.deepEqual(claims.access[0]?.actions, ["pull"]);
    await assert.rejects(
      fetchToken(ts, ["repository:library/small:pull"], { username: "x", password: "y" }),
      /401/,
    );
    const form = new URLSearchParams({
      grant_type: "password",
      service: ts.service,
      scope: "repository:a/b:pull",
    });
    for (const [k, v] of Object.entries({ username: up.creds.username, password: up.creds.password }))
      form.set(k, v);
    const posted = await fetch(ts.realm, { method: "POST", body: form });
    assert.equal(posted.status, 200);
    assert.ok(ts.stats().denied >= 1 && ts.stats().requests >= 3);
  });

  describe("fault proxy", () => {
    let proxy: FaultProxy;
    before(async () => {
      proxy = await startFaultProxy({ target: up.url });
    });
    after(() => proxy?.close());

    test("429 mode refuses authorized manifest GETs with Retry-After and passes HEAD", async () => {
      proxy.setMode("429");
      const token = await fetchToken(up.tokenServer!, ["repository:library/small:pull"]);
      const headers = { authorization: `Bearer ${token}`, accept: ACCEPT };
      const url = `${proxy.url}/v2/library/small/manifests/latest`;
      const get = await fetch(url, { headers });
      assert.equal(get.status, 429);
      assert.equal(get.headers.get("retry-after"), "60");
      assert.equal(
        ((await get.json()) as { errors: Array<{ code: string }> }).errors[0]?.code,
        "TOOMANYREQUESTS",
      );
      const head = await fetch(url, { method: "HEAD", headers });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("docker-content-digest"), small.digest);
      assert.equal(head.headers.get("ratelimit-remaining"), "0;w=21600");
      assert.deepEqual([proxy.stats().rateLimited, proxy.stats().manifestHead], [1, 1]);
    });

    test("ratelimit mode counts authorized manifest GETs down to 429", async () => {
      proxy.setMode("ratelimit");
      proxy.setLimit(1);
      proxy.resetStats();
      const token = await fetchToken(up.tokenServer!, ["repository:library/small:pull"]);
      const get = () =>
        fetch(`${proxy.url}/v2/library/small/manifests/latest`, {
          headers: { authorization: `Bearer ${token}`, accept: ACCEPT },
        });
      const first = await get();
      await first.arrayBuffer();
      assert.deepEqual([first.status, first.headers.get("ratelimit-remaining")], [200, "0;w=21600"]);
      assert.equal((await get()).status, 429);
    });

    test("cut-blob and corrupt-blob make a skopeo pull fail; ok lets it through", async () => {
      const via = { host: proxy.host, creds: up.creds };
      const failures = { "cut-blob": /unexpected EOF/, "corrupt-blob": /Digest did not match/ };
      for (const [mode, error] of Object.entries(failures)) {
        proxy.setMode(mode as keyof typeof failures);
        await assert.rejects(pullAndCompare(via, small, "library/small:latest"), error);
      }
      assert.ok(proxy.stats().cut >= 1 && proxy.stats().corrupted >= 1);
      proxy.setMode("ok");
      await pullAndCompare(via, small, "library/small:latest");
    });

    test("down answers 503, drop hangs up, slow-blob throttles", async () => {
      proxy.setMode("down");
      assert.equal((await fetch(`${proxy.url}/v2/`)).status, 503);
      proxy.setMode("drop");
      await assert.rejects(fetch(`${proxy.url}/v2/`), causedBy("UND_ERR_SOCKET"));
      const layer = small.manifests[0]!.layers[0]!;
      const token = await fetchToken(up.tokenServer!, ["repository:library/small:pull"]);
      proxy.setMode("slow-blob", { bytesPerSec: 512 * 1024 });
      const started = Date.now();
      const res = await fetch(`${proxy.url}/v2/library/small/blobs/${layer.digest}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal((await res.arrayBuffer()).byteLength, layer.size);
      assert.ok(Date.now() - started >= (layer.size / (512 * 1024)) * 1000 * 0.8, "body came too fast");
      proxy.setMode("ok");
    });
  });
});

describe("basic-auth upstream", () => {
  let up: Upstream;
  const small = getImage("small-v2");
  before(async () => {
    up = await startUpstream({ auth: "basic" });
  });
  after(() => up?.close());

  test("push and pull with credentials, counted in the access log", async () => {
    await pushImage(small, up, "library/small:v2");
    const mark = up.mark();
    await pullAndCompare(up, small, "library/small:v2");
    await up.settle(200);
    const blobGets = up.count({ method: "GET", pathRegex: /\/blobs\/sha256:/, status: 200, since: mark });
    assert.equal(blobGets, small.blobs.length);
    assert.equal((await fetch(`${up.url}/v2/`)).status, 401);
  });

  test("stop() refuses connections, start() serves the same data again", async () => {
    await up.stop();
    await assert.rejects(fetch(`${up.url}/v2/`), causedBy("ECONNREFUSED"));
    await up.start();
    await pullAndCompare(up, small, "library/small:v2");
  });
});

describe("real clients pull directly from a plain upstream", () => {
  let up: Upstream;
  const small = getImage("small");
  const want = expectedContent(small);
  const ref = () => `${up.host}/library/small:latest`;
  before(async () => {
    up = await startUpstream({ auth: "none" });
    await pushImage(small, up, "library/small:latest");
  });
  after(() => up?.close());

  test("podman", async () => {
    const r = await podmanPull(ref(), { tlsVerify: false });
    assert.equal(r.digest, small.digest);
    assert.equal(`sha256:${r.id}`, small.manifests[0]?.config.digest);
  });

  test("containerd (ctr)", async () => {
    const r = await ctrPull(ref(), { plainHttp: true });
    assert.equal(r.digest, small.digest);
    assert.deepEqual(
      r.content.map((c) => c.digest),
      allDigests(want),
    );
  });

  test("dockerd", async () => {
    const r = await dockerdPull(ref(), { insecureRegistries: [up.host] });
    assert.equal(r.digest, small.digest);
    assert.equal(r.id, small.manifests[0]?.config.digest);
  });
});
