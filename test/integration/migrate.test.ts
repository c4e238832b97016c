// `wharf migrate --to CLUSTER.yaml` moves a running single node (blob files, SQLite) into Ceph RGW
// and PostgreSQL, the README's way: a first pass while the node serves (every blob re-hashed: a
// corrupt file is reported and left behind), a second pass that skips what is there, the node
// stopped, a final pass whose row counts match, then a cluster node from the target configuration
// serves the migrated images with the upstream gone and knows the migrated users.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import { cephRgw, s3Prefix } from "../harness/backends/ceph-rgw.js";
import { type PostgresServer, startPostgres } from "../harness/backends/postgres.js";
import { skopeoCopy } from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { rawRequest, sha256 } from "../harness/http/requests.js";
import { expectedContent, getImage } from "../harness/images/test-images.js";
import { freePort } from "../harness/system/ports.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { runWharfCli } from "../harness/wharf/cli.js";
import { blobPath } from "../harness/wharf/data.js";
import { exampleConfig } from "../harness/wharf/examples.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

const ADMIN_PASSWORD = `migrate-${process.pid}`;

describe("wharf migrate: one node's files and SQLite into S3 and PostgreSQL", () => {
  let fx: ProxyFixture;
  let postgres: PostgresServer;
  let single: Wharf;
  let cluster: Wharf | undefined;
  let targetConfig = "";
  let env: Record<string, string> = {};
  const small = getImage("small");
  const big = getImage("big");

  const migrate = () =>
    runWharfCli(["migrate", "--data", single.dataDir, "--to", targetConfig], { env, timeoutMs: 120_000 });

  before(async () => {
    const s3 = cephRgw();
    postgres = await startPostgres();
    fx = await withProxy({
      upstream: {
        images: [
          { image: small, ref: "library/small:latest" },
          { image: big, ref: "library/big:latest" },
        ],
      },
      faults: {},
      wharf: false,
    });
    const repositories = `
repositories:
  docker-hub: { type: proxy, upstream: { url: "${fx.faults.url}" } }
  docker-internal: { type: hosted }
  docker-all: { type: group, members: [docker-internal, docker-hub], push_to: docker-internal }
default_repository: docker-all
`;
    single = await startWharf({
      configYaml: repositories,
      secured: true,
      env: { WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD },
    });
    for (const image of [small, big]) {
      const pulled = await skopeoCopy(`${single.host}/library/${image.name}:latest`, makeTempDir("pull"));
      assert.deepEqual(pulled.content, expectedContent(image));
    }
    // The cluster's file, as examples/cluster.yaml has it, re-pointed at the local upstream.
    const config = exampleConfig("cluster.yaml");
    (config.repositories["docker-hub"] as Record<string, unknown>).upstream = { url: fx.faults.url };
    (config.storage as { s3: Record<string, unknown> }).s3.prefix = s3Prefix("migrate");
    config.data_dir = path.join(makeTempDir("cluster-node"), "data");
    targetConfig = path.join(makeTempDir("config"), "cluster.yaml");
    fs.writeFileSync(targetConfig, YAML.stringify(config));
    const address = `127.0.0.1:${await freePort()}`;
    env = {
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: s3.bucket,
      S3_ACCESS_KEY: s3.accessKey,
      S3_SECRET_KEY: s3.secretKey,
      DATABASE_URL: await postgres.schemaUrl("cluster"),
      WHARF_LISTEN: address,
    };
  });
  after(async () => {
    await cluster?.close();
    await single?.close();
    await fx?.close();
    await postgres?.stop();
  });

  test("a pass while the node serves copies every blob re-hashed, and leaves a corrupt one behind", async () => {
    const layer = small.manifests[0]?.layers[0];
    assert.ok(layer);
    const file = blobPath(single.dataDir, layer.digest);
    const good = fs.readFileSync(file);
    const flipped = Buffer.from(good);
    flipped[10] = (flipped[10] ?? 0) ^ 0xff;
    fs.writeFileSync(file, flipped);
    try {
      const first = await migrate();
      assert.equal(first.code, 1, first.stdout + first.stderr);
      assert.match(first.stdout, new RegExp(`corrupt ${layer.digest}: not copied`));
      assert.match(first.stdout, /1 corrupt/);
    } finally {
      fs.writeFileSync(file, good);
    }
    const second = await migrate();
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.match(second.stdout, /blobs: 1 copied .*, \d+ already there, 0 corrupt/);
    assert.match(second.stdout, /manifests: (\d+) rows here, \1 there \(0 written, 0 removed\)/);
    const { rows } = await postgres.query("SELECT name FROM cluster.users ORDER BY name");
    assert.deepEqual(rows, [{ name: "admin" }]);
  });

  test("after the node stopped, the final pass matches, and a cluster node serves the store", async () => {
    await single.stop();
    const final = await migrate();
    assert.equal(final.code, 0, final.stdout + final.stderr);
    assert.match(final.stdout, /blobs: 0 copied/);
    assert.match(final.stdout, /complete/);
    cluster = await startWharf({
      configYaml: fs.readFileSync(targetConfig, "utf8"),
      secured: true,
      env: { ...env, REGISTRY_HTTP_ADDR: env.WHARF_LISTEN ?? "" },
    });
    fx.faults.setMode("down");
    try {
      for (const image of [small, big]) {
        const pulled = await skopeoCopy(
          `${cluster.host}/library/${image.name}@${image.digest}`,
          makeTempDir("pull"),
        );
        assert.deepEqual(pulled.content, expectedContent(image));
      }
      const layer = big.manifests[0]?.layers[0];
      assert.ok(layer);
      const hit = await rawRequest(cluster.url, `/v2/library/big/blobs/${layer.digest}`);
      assert.equal(hit.headers["x-wharf-cache"], "hit");
      assert.equal(sha256(hit.body), layer.digest);
    } finally {
      fx.faults.setMode("ok");
    }
    const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString("base64")}`;
    const me = await rawRequest(cluster.url, "/v2/", { headers: { authorization: basic } });
    assert.equal(me.status, 200, "the migrated admin logs in on the cluster node");
    const again = await migrate();
    assert.equal(again.code, 2, "a migration onto a running cluster is refused");
    assert.match(again.stderr, /nodes are running/);
  });
});
