// wharf on Ceph RGW and PostgreSQL, started the README's way (`wharf serve --config FILE`, the
// store's and the database's settings from the environment): pulls through its proxy and pushes
// into its hosted repository are byte-exact, the bytes are in the bucket and the facts in the
// database (nothing in the data directory but scratch), a cut download leaves nothing served in
// the bucket, and a chunked push goes on after a restart with an emptied data directory.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { S3Objects } from "../../src/store/s3-objects.js";
import { cephRgw, s3Prefix } from "../harness/backends/ceph-rgw.js";
import { type PostgresServer, startPostgres } from "../harness/backends/postgres.js";
import { skopeoCopy } from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { rawRequest, sha256, streamGet } from "../harness/http/requests.js";
import {
  closeUpload,
  locationPath,
  patchChunk,
  startUpload,
  uploadedBytes,
} from "../harness/http/uploads.js";
import { pushImage } from "../harness/images/push.js";
import { expectedContent, getImage, randomBytes, type TestImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { runWharfCli } from "../harness/wharf/cli.js";
import { spoolEntries, storedDigests, waitSpoolEmpty } from "../harness/wharf/data.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  for (const started = Date.now(); !(await condition()); ) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The configuration a site writes: everything that differs per site comes from the environment. */
const CONFIG = (upstream: string, prefix: string) => `
storage:
  s3:
    endpoint: \${S3_ENDPOINT}
    bucket: \${S3_BUCKET}
    access_key: \${S3_ACCESS_KEY}
    secret_key: \${S3_SECRET_KEY}
    prefix: ${prefix}
    # the test images' layers are 8 MiB at most: parts of S3's smallest size make them multipart uploads
    part_size: 5MiB
database:
  url: \${DATABASE_URL}
repositories:
  hub: { type: proxy, upstream: { url: "${upstream}" } }
  internal: { type: hosted }
  all: { type: group, members: [internal, hub], push_to: internal }
default_repository: all
`;

describe("wharf on S3 (Ceph RGW) and PostgreSQL", () => {
  let fx: ProxyFixture;
  let postgres: PostgresServer;
  let objects: S3Objects;
  let wharf: Wharf;
  /** The site's settings wharf reads from the environment. */
  let backendEnv: Record<string, string> = {};
  let prefix = "";
  const small = getImage("small");
  const big = getImage("big");

  const pull = async (image: TestImage, ref: string) => {
    const r = await skopeoCopy(`${wharf.host}/${ref}`, makeTempDir("pull"), { timeoutMs: 60_000 });
    assert.deepEqual(r.content, expectedContent(image), ref);
  };
  const stored = async () => {
    const digests: string[] = [];
    for await (const object of objects.list("blobs/"))
      digests.push(object.name.replace(/^blobs\/(\w+)\//, "$1:"));
    return digests;
  };
  const multipartUploads = async () => {
    const found: string[] = [];
    for await (const upload of objects.multipartUploads()) found.push(upload.name);
    return found;
  };

  before(async () => {
    const s3 = cephRgw();
    postgres = await startPostgres();
    prefix = s3Prefix("wharf");
    objects = new S3Objects({ ...s3, prefix });
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
    const databaseUrl = await postgres.schemaUrl("wharf");
    backendEnv = {
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: s3.bucket,
      S3_ACCESS_KEY: s3.accessKey,
      S3_SECRET_KEY: s3.secretKey,
      DATABASE_URL: databaseUrl,
    };
    wharf = await startWharf({ configYaml: CONFIG(fx.faults.url, prefix), env: backendEnv });
  });
  after(async () => {
    await wharf?.close();
    await fx?.close();
    objects?.close();
    await postgres?.stop();
  });

  for (const mode of ["cut-blob", "corrupt-blob"] as const) {
    test(`a download the upstream ${mode === "cut-blob" ? "cuts" : "corrupts"} leaves nothing served in the bucket and no upload open`, async () => {
      // A layer of 8 MiB: with 5 MiB parts its first part leaves before the download ends.
      const layer = big.manifests[0]?.layers.at(mode === "cut-blob" ? 1 : 2);
      assert.ok(layer);
      const path = `/v2/library/big/blobs/${layer.digest}`;
      fx.faults.setMode(mode, { digests: [layer.digest] });
      try {
        const raw = await streamGet(wharf.url, path);
        assert.ok(
          !raw.complete || raw.bytes < layer.size,
          `served ${raw.bytes} bytes, complete=${raw.complete}`,
        );
        assert.ok(!(await stored()).includes(layer.digest), "nothing under the blob's key");
        await waitFor(
          async () => (await multipartUploads()).length === 0,
          "the download's multipart upload is aborted",
        );
        assert.deepEqual(await waitSpoolEmpty(wharf.dataDir), [], "its spool file is gone");
        const head = await rawRequest(wharf.url, path, { method: "HEAD" });
        assert.notEqual(head.headers["x-wharf-cache"], "hit");
      } finally {
        fx.faults.setMode("ok");
      }
      const healed = await rawRequest(wharf.url, path);
      assert.equal(sha256(healed.body), layer.digest);
      await waitFor(async () => (await stored()).includes(layer.digest), "the healed download is stored");
    });
  }

  test("the first client gets a cold blob's bytes as they arrive, while the parts go up to the bucket behind them", async () => {
    const layer = big.manifests[0]?.layers.at(3);
    assert.ok(layer);
    // 8 MiB at 2 MiB/s: four seconds upstream.
    fx.faults.setMode("slow-blob", { digests: [layer.digest], bytesPerSec: 2 * 1024 * 1024 });
    try {
      const started = Date.now();
      let firstMiB: number | undefined;
      const got = await streamGet(wharf.url, `/v2/library/big/blobs/${layer.digest}`, {
        onData: (received) => {
          if (firstMiB === undefined && received >= 1024 * 1024) firstMiB = Date.now() - started;
        },
      });
      const total = Date.now() - started;
      assert.equal(got.digest, layer.digest);
      assert.ok(
        firstMiB !== undefined && firstMiB < total / 2,
        `first MiB after ${firstMiB} ms of ${total} ms`,
      );
    } finally {
      fx.faults.setMode("ok");
    }
    await waitFor(async () => (await stored()).includes(layer.digest), "the blob is stored");
  });

  test("pulls through the proxy are byte-exact; the bytes land in the bucket, the facts in PostgreSQL", async () => {
    await pull(small, "library/small:latest");
    await pull(big, "library/big:latest");
    const expected = [small, big].flatMap(
      (image) => image.manifests[0]?.layers.map((layer) => layer.digest) ?? [],
    );
    const inBucket = await stored();
    for (const digest of expected) assert.ok(inBucket.includes(digest), `${digest} in the bucket`);
    assert.deepEqual(storedDigests(wharf.dataDir), [], "no blob in the data directory");
    for (const file of ["wharf.db", "auth.db"]) {
      assert.equal(fs.existsSync(`${wharf.dataDir}/${file}`), false, `no ${file}`);
    }
    const tags = await postgres.query("SELECT name, tag FROM wharf.tags WHERE repo = 'hub' ORDER BY name");
    assert.deepEqual(
      tags.rows.map((row) => `${row.name}:${row.tag}`),
      ["library/big:latest", "library/small:latest"],
    );
    // Served again from the bucket, with the upstream out of the way.
    fx.faults.setMode("down");
    try {
      const layer = big.manifests[0]?.layers.at(-1);
      assert.ok(layer);
      const again = await rawRequest(wharf.url, `/v2/hub/library/big/blobs/${layer.digest}`);
      assert.equal(again.status, 200);
      assert.equal(again.headers["x-wharf-cache"], "hit");
      assert.equal(sha256(again.body), layer.digest);
    } finally {
      fx.faults.setMode("ok");
    }
    assert.deepEqual(await multipartUploads(), [], "no multipart upload left open");
    assert.deepEqual(await waitSpoolEmpty(wharf.dataDir), [], "the local spool is empty again");
  });

  test("a push into the hosted repository comes back byte-exact through the group", async () => {
    await pushImage(small, { host: wharf.host }, "internal/team/app:1");
    await pull(small, "team/app:1");
    const manifests = await postgres.query(
      "SELECT count(*)::int AS n FROM wharf.manifests WHERE repo = 'internal' AND name = 'team/app'",
    );
    assert.equal(manifests.rows[0]?.n, 1);
  });

  test("a chunked push goes on after a restart whose data directory was emptied: its bytes are in the bucket", async () => {
    const blob = randomBytes("s3-chunked", 12 * 1024 * 1024 + 321);
    const digest = sha256(blob);
    const started = await startUpload(wharf.url, "internal/team/chunked");
    assert.equal(started.status, 202);
    let location = locationPath(started);
    const cuts = [0, 1000, 7 * 1024 * 1024, 7 * 1024 * 1024 + 1];
    for (const [index, start] of cuts.entries()) {
      const end = cuts[index + 1] ?? 10 * 1024 * 1024;
      const res = await patchChunk(wharf.url, location, blob.subarray(start, end), start);
      assert.equal(res.status, 202, res.body.toString());
      assert.equal(uploadedBytes(res), end);
      location = locationPath(res);
    }
    await wharf.stop();
    fs.rmSync(wharf.dataDir, { recursive: true, force: true });
    await wharf.restart();
    const status = await rawRequest(wharf.url, location);
    assert.equal(status.status, 204);
    assert.equal(uploadedBytes(status), 10 * 1024 * 1024);
    const closed = await closeUpload(wharf.url, location, digest, blob.subarray(10 * 1024 * 1024));
    assert.equal(closed.status, 201, closed.body.toString());
    const back = await rawRequest(wharf.url, `/v2/internal/team/chunked/blobs/${digest}`);
    assert.equal(back.status, 200);
    assert.equal(sha256(back.body), digest);
    assert.ok((await stored()).includes(digest));
    assert.deepEqual(spoolEntries(wharf.dataDir), []);
    const left: string[] = [];
    for await (const object of objects.list("uploads/")) left.push(object.name);
    assert.deepEqual(left, [], "the session's segments are gone");
  });

  test("the commands use the same backends: config check --connect reaches both, user add writes to PostgreSQL, gc reads the bucket", async () => {
    const config = wharf.configPath as string;
    const env = { ...backendEnv };
    const checked = await runWharfCli(["config", "check", "--connect", config], { env });
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /blobs: S3 bucket .* reachable/);
    assert.match(checked.stdout, /metadata, users and tokens: PostgreSQL at .*: reachable, PostgreSQL 1\d/);
    const wrongKey = await runWharfCli(["config", "check", "--connect", config], {
      env: { ...env, S3_SECRET_KEY: "not-the-key" },
    });
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /blobs: cannot reach bucket/);
    const added = await runWharfCli(["user", "add", "alice", "--password-stdin", "--config", config], {
      env,
      input: "alice-password-1\n",
    });
    assert.equal(added.code, 0, added.stderr);
    const users = await postgres.query("SELECT name FROM wharf.users ORDER BY name");
    assert.ok(users.rows.some((row) => row.name === "alice"));
    const gc = await runWharfCli(["gc", "--dry-run", "--grace", "0s", "--config", config], { env });
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, /would remove \d+ manifests/);
  });

  test("a second wharf on the same bucket and database with redirect on sends blob GETs to presigned URLs; skopeo follows them", async () => {
    const redirecting = await startWharf({
      configYaml: CONFIG(fx.faults.url, prefix).replace(
        "    part_size: 5MiB\n",
        "    part_size: 5MiB\n    redirect: true\n",
      ),
      env: backendEnv,
    });
    try {
      const layer = big.manifests[0]?.layers[0];
      assert.ok(layer);
      const path = `/v2/hub/library/big/blobs/${layer.digest}`;
      const answer = await rawRequest(redirecting.url, path);
      assert.equal(answer.status, 307);
      const location = String(answer.headers.location);
      assert.ok(location.startsWith(backendEnv.S3_ENDPOINT ?? "-"), location);
      const fetched = await fetch(location);
      assert.equal(sha256(Buffer.from(await fetched.arrayBuffer())), layer.digest);
      const head = await rawRequest(redirecting.url, path, { method: "HEAD" });
      assert.equal(head.status, 200, "a HEAD is answered by wharf itself");
      const r = await skopeoCopy(`${redirecting.host}/library/big:latest`, makeTempDir("pull"), {
        timeoutMs: 60_000,
      });
      assert.deepEqual(r.content, expectedContent(big));
    } finally {
      await redirecting.close();
    }
  });
});
