// Three wharf nodes started from examples/cluster.yaml (each with its own WHARF_LISTEN and data
// directory), sharing one Ceph RGW bucket and one PostgreSQL database, in front of a
// docker-registry standing in for Docker Hub behind a fault proxy: they act as one cache. Ten
// clients spread over the nodes pull one cold image byte-exact; a chunked push sends each request
// to another node; a 429 one node met holds the others too (they serve the tag stale and send
// nothing upstream); nodes find each other in the nodes table.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import { cephRgw, s3Prefix } from "../harness/backends/ceph-rgw.js";
import { type PostgresServer, startPostgres } from "../harness/backends/postgres.js";
import { skopeoCopy } from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { ACCEPT_MANIFESTS, rawRequest, sha256, streamGet } from "../harness/http/requests.js";
import {
  closeUpload,
  locationPath,
  patchChunk,
  startUpload,
  uploadedBytes,
} from "../harness/http/uploads.js";
import { expectedContent, getImage, randomBytes } from "../harness/images/test-images.js";
import { freePort } from "../harness/system/ports.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { exampleConfig } from "../harness/wharf/examples.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

const NODES = 3;

describe("three nodes from examples/cluster.yaml, one cache", () => {
  let fx: ProxyFixture;
  let postgres: PostgresServer;
  const nodes: Wharf[] = [];
  const small = getImage("small");
  const big = getImage("big");
  const many = getImage("many");
  const multi = getImage("multi");
  const fresh = getImage("big", { seed: 2, bigLayerCount: 1 });
  const node = (i: number) => nodes[i % NODES] as Wharf;

  before(async () => {
    const s3 = cephRgw();
    postgres = await startPostgres();
    fx = await withProxy({
      upstream: {
        images: [
          { image: small, ref: "library/small:latest" },
          { image: big, ref: "library/big:latest" },
          { image: many, ref: "library/many:latest" },
          { image: multi, ref: "library/multi:latest" },
          { image: fresh, ref: "library/fresh:latest" },
        ],
      },
      faults: {},
      wharf: false,
    });
    // The example itself, re-pointed at the local upstream; everything per site or per node stays
    // in the environment, as the file says.
    const config = exampleConfig("cluster.yaml");
    const hub = config.repositories["docker-hub"] as { upstream: Record<string, unknown> } & Record<
      string,
      unknown
    >;
    hub.upstream = { url: fx.faults.url };
    // Every pull by tag asks upstream (a HEAD): a back-off then shows as a tag served stale.
    hub.tag_ttl = "0";
    const storage = config.storage as { s3: Record<string, unknown> };
    storage.s3.prefix = s3Prefix("cluster");
    storage.s3.part_size = "5MiB";
    const env = {
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: s3.bucket,
      S3_ACCESS_KEY: s3.accessKey,
      S3_SECRET_KEY: s3.secretKey,
      DATABASE_URL: await postgres.schemaUrl("cluster"),
    };
    for (let i = 0; i < NODES; i++) {
      const address = `127.0.0.1:${await freePort()}`;
      nodes.push(
        await startWharf({
          configYaml: YAML.stringify(config),
          env: { ...env, WHARF_LISTEN: address, REGISTRY_HTTP_ADDR: address },
        }),
      );
    }
  });
  after(async () => {
    for (const wharf of nodes) await wharf.close();
    await fx?.close();
    await postgres?.stop();
  });

  test("the nodes find each other in the nodes table", async () => {
    const { rows } = await postgres.query(
      "SELECT internal_url FROM cluster.cluster_nodes ORDER BY internal_url",
    );
    assert.deepEqual(
      rows.map((row) => (row as { internal_url: string }).internal_url),
      nodes.map((wharf) => wharf.url).sort(),
    );
  });

  test("ten clients spread over the nodes pull one cold image through /v2/library/…, byte-exact, one upstream GET per blob", async () => {
    fx.faults.resetStats();
    const pulls = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        skopeoCopy(`${node(i).host}/library/big:latest`, makeTempDir("pull"), { timeoutMs: 120_000 }),
      ),
    );
    for (const pull of pulls) assert.deepEqual(pull.content, expectedContent(big));
    const gets = fx.faults.stats().blobGet;
    for (const layer of big.manifests[0]?.layers ?? []) {
      assert.equal(gets[layer.digest], 1, `${layer.digest}: upstream GETs across the three nodes`);
    }
  });

  test("a chunked push may send each request to another node", async () => {
    const blob = randomBytes("cluster push", 3 * 1024 * 1024 + 5);
    const digest = sha256(blob);
    const started = await startUpload(node(0).url, "team/app");
    assert.equal(started.status, 202, started.body.toString());
    let location = locationPath(started);
    const chunks = [blob.subarray(0, 1024 * 1024), blob.subarray(1024 * 1024, 2 * 1024 * 1024)];
    for (const [i, chunk] of chunks.entries()) {
      const sent = await patchChunk(node(i + 1).url, location, chunk, i * 1024 * 1024);
      assert.equal(sent.status, 202, `chunk ${i} on node ${i + 1}: ${sent.body.toString()}`);
      assert.equal(uploadedBytes(sent), (i + 1) * 1024 * 1024);
      location = locationPath(sent);
    }
    const status = await rawRequest(node(0).url, location);
    assert.equal(uploadedBytes(status), 2 * 1024 * 1024, "any node knows the session's offset");
    const closed = await closeUpload(node(0).url, location, digest, blob.subarray(2 * 1024 * 1024));
    assert.equal(closed.status, 201, closed.body.toString());
    for (const wharf of nodes) {
      const got = await rawRequest(wharf.url, `/v2/team/app/blobs/${digest}`);
      assert.equal(got.status, 200);
      assert.equal(sha256(got.body), digest);
    }
  });

  test("a 429 one node met holds every node: the tag is served stale, nothing goes upstream", async () => {
    const cached = await skopeoCopy(`${node(0).host}/library/small:latest`, makeTempDir("pull"));
    assert.deepEqual(cached.content, expectedContent(small));
    fx.faults.setMode("429");
    try {
      const refused = await rawRequest(node(1).url, "/v2/library/many/manifests/latest", {
        headers: { accept: ACCEPT_MANIFESTS },
      });
      assert.equal(refused.status, 429, refused.body.toString());
      const seen = fx.faults.requests().length;
      const stale = await rawRequest(node(2).url, "/v2/library/small/manifests/latest", {
        headers: { accept: ACCEPT_MANIFESTS },
      });
      assert.equal(stale.status, 200, stale.body.toString());
      assert.equal(stale.headers["docker-content-digest"], small.digest);
      assert.equal(stale.headers["x-wharf-cache"], "stale", "node 2 did not revalidate during the back-off");
      const held = await rawRequest(node(0).url, `/v2/library/many/manifests/${many.digest}`, {
        headers: { accept: ACCEPT_MANIFESTS },
      });
      assert.equal(held.status, 429, held.body.toString());
      assert.ok(Number(held.headers["retry-after"]) > 0);
      assert.deepEqual(
        fx.faults.requests().slice(seen),
        [],
        "no node asked the upstream during the back-off",
      );
      const status = JSON.parse((await rawRequest(node(2).url, "/api/status")).body.toString()) as {
        repositories: Array<{ name: string; upstream?: { rateLimit?: { backoffUntil?: string } } }>;
      };
      const hub = status.repositories.find((repository) => repository.name === "docker-hub");
      assert.ok(hub?.upstream?.rateLimit?.backoffUntil, JSON.stringify(hub));
    } finally {
      fx.faults.setMode("ok");
      // The back-off is the cluster's: ended in the database, it ends for every node.
      await postgres.query("UPDATE cluster.upstream_state SET backoff_until = 0");
    }
    const again = await skopeoCopy(`${node(1).host}/library/small:latest`, makeTempDir("pull"));
    assert.deepEqual(again.content, expectedContent(small));
  });
  test("a client of a node that is not downloading gets the bytes as they arrive, from the node that is", async () => {
    const layer = fresh.manifests[0]?.layers[0];
    assert.ok(layer);
    const path = `/v2/library/fresh/blobs/${layer.digest}`;
    fx.faults.resetStats();
    // 8 MiB at 2 MiB/s: four seconds upstream.
    fx.faults.setMode("slow-blob", { digests: [layer.digest], bytesPerSec: 2 * 1024 * 1024 });
    try {
      const started = Date.now();
      const leading = streamGet(node(0).url, path);
      for (let waited = 0; (fx.faults.stats().blobGet[layer.digest] ?? 0) === 0; waited += 10) {
        assert.ok(waited < 10_000, "node 0 began its download");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      let firstMiB: number | undefined;
      const following = await streamGet(node(1).url, path, {
        onData: (received) => {
          if (firstMiB === undefined && received >= 1024 * 1024) firstMiB = Date.now() - started;
        },
      });
      const total = Date.now() - started;
      assert.equal(following.digest, layer.digest);
      assert.equal((await leading).digest, layer.digest);
      assert.ok(
        firstMiB !== undefined && firstMiB < total / 2,
        `first MiB after ${firstMiB} ms of ${total} ms`,
      );
      assert.equal(fx.faults.stats().blobGet[layer.digest], 1);
      // (a 404 may come first: node 0 held the lease a moment before its download was open)
      await node(0).waitLog(
        (line) =>
          line.msg === "request" && String(line.path).startsWith("/_wharf/fill") && line.status === 200,
      );
      await node(1).waitLog(
        (line) => line.msg === "blob streamed from the node fetching it" && line.stored === true,
      );
    } finally {
      fx.faults.setMode("ok");
    }
  });

  test("the internal endpoint answers only the cluster's nodes", async () => {
    const key = Buffer.from("blob\ndocker-hub\nlibrary/big\nsha256:0").toString("base64url");
    for (const headers of [{}, { "x-wharf-node": `${Date.now() + 30_000}.AAAA` }]) {
      const refused = await rawRequest(node(0).url, `/_wharf/fill?key=${key}`, { headers });
      assert.equal(refused.status, 401, refused.body.toString());
    }
  });

  // Last: it kills a node.
  test("a node killed with SIGKILL in the middle of a download: the pulls through the others complete, the lease passes on", async () => {
    const layer = multi.manifests[0]?.layers.at(-1);
    assert.ok(layer);
    const path = `/v2/library/multi/blobs/${layer.digest}`;
    fx.faults.resetStats();
    // About six seconds upstream: time to join, and to kill the node that downloads.
    fx.faults.setMode("slow-blob", { digests: [layer.digest], bytesPerSec: 256 * 1024 });
    try {
      const victim = node(2);
      const leader = streamGet(victim.url, path).catch(() => undefined);
      for (let waited = 0; (fx.faults.stats().blobGet[layer.digest] ?? 0) === 0; waited += 20) {
        assert.ok(waited < 10_000, "the victim began its download");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      let followed = 0;
      const followers = [0, 1].map((i) =>
        streamGet(node(i).url, path, {
          onData: (received) => {
            followed = Math.max(followed, received);
          },
        }),
      );
      for (let waited = 0; followed < 256 * 1024; waited += 20) {
        assert.ok(waited < 10_000, "the followers are streaming the victim's download");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      process.kill(victim.pid(), "SIGKILL");
      await leader;
      for (const [i, first] of (await Promise.all(followers)).entries()) {
        // Cut with its source, as a cut upstream download: never complete with wrong bytes.
        if (first.complete) assert.equal(first.digest, layer.digest, `node ${i}'s first answer`);
        else assert.ok(first.bytes < layer.size);
      }
      // The clients retry, as they do after a short body: the lease of the dead node passes on.
      const retried = await Promise.all([0, 1].map((i) => streamGet(node(i).url, path)));
      for (const [i, again] of retried.entries()) {
        assert.equal(again.status, 200, `node ${i}`);
        assert.ok(again.complete, `node ${i}`);
        assert.equal(again.digest, layer.digest, `node ${i}`);
      }
      assert.equal(
        fx.faults.stats().blobGet[layer.digest],
        2,
        "the dead node's download and one by the node that took its lease over",
      );
    } finally {
      fx.faults.setMode("ok");
    }
    const stored = await rawRequest(node(1).url, path);
    assert.equal(stored.headers["x-wharf-cache"], "hit");
    assert.equal(sha256(stored.body), layer.digest);
    // A lease is let go of once its download was linked, a moment after its last reader finished.
    const leases = async () =>
      (await postgres.query("SELECT node FROM cluster.blob_leases")).rows as Array<{ node: string }>;
    for (let waited = 0; (await leases()).length > 0; waited += 50) {
      assert.ok(waited < 5000, `leases left behind: ${JSON.stringify(await leases())}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
