// Issue 9, verify and prune as an operator runs them beside a running wharf: a clean store
// verifies clean; a damaged layer file and a lost one are found (exit 1), repaired (quarantined,
// forgotten) and fetched again byte-exact by the next pull; prune --dry-run lists what a cap would
// evict with sizes and last use, prune refuses beside the server and evicts once it is stopped;
// SIGTERM during a cold pull, a restart, verify clean, and the pull succeeds.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import { skopeoCopy } from "../harness/clients/index.js";
import { streamGet } from "../harness/http/requests.js";
import { derivedImage } from "../harness/images/layered.js";
import { pushImage } from "../harness/images/push.js";
import { expectedContent, getImage, type TestImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { type FaultProxy, startFaultProxy } from "../harness/upstream/fault-proxy.js";
import { runWharfCli } from "../harness/wharf/cli.js";
import { blobPath, storedDigests } from "../harness/wharf/data.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

describe("verify and prune beside a running wharf", () => {
  let up: Upstream;
  let proxy: FaultProxy;
  let wharf: Wharf;
  const base = getImage("small");
  const first = derivedImage(base, "verify-first");
  const second = derivedImage(base, "verify-second");
  /** The layer only `image` has: what damage and eviction are tried on. */
  const ownLayer = (image: TestImage) => {
    const layer = image.blobs.find(
      (blob) => !base.blobs.some((b) => b.digest === blob.digest) && blob.size > 50_000,
    );
    assert.ok(layer, "a layer of its own");
    return layer;
  };
  const cli = (args: string[], configPath = wharf.configPath as string) =>
    runWharfCli([...args, "--config", configPath, "--data", wharf.dataDir]);
  const pull = async (ref: string, image: TestImage) => {
    const result = await skopeoCopy(`${wharf.host}/${ref}`, makeTempDir("pull"));
    assert.deepEqual(result.content, expectedContent(image), ref);
  };
  const blobGets = (digest: string) =>
    proxy
      .requests()
      .filter((r) => r.method === "GET" && r.path.endsWith(`/blobs/${digest}`) && r.status === 200).length;

  before(async () => {
    up = await startUpstream({ auth: "none" });
    await pushImage(first, up, "team/first:1");
    await pushImage(second, up, "team/second:1");
    proxy = await startFaultProxy({ target: up.url });
    const config = {
      shutdown_grace: "1s",
      repositories: { hub: { type: "proxy", upstream: { url: proxy.url } } },
    };
    wharf = await startWharf({ configYaml: YAML.stringify(config) });
    await pull("hub/team/first:1", first);
    await pull("hub/team/second:1", second);
  });
  after(async () => {
    await wharf?.close();
    await proxy?.close();
    await up?.close();
  });

  test("a clean store verifies clean: exit 0", async () => {
    const result = await cli(["verify"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^checked \d+ files \(.*\): all well$/m);
  });

  test("a damaged layer file: found (exit 1), repaired beside the server, then clean, and the pull fetches it again", async () => {
    const layer = ownLayer(first);
    const file = blobPath(wharf.dataDir, layer.digest);
    const bytes = fs.readFileSync(file);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    fs.writeFileSync(file, bytes);
    const found = await cli(["verify"]);
    assert.equal(found.code, 1, found.stderr);
    assert.match(
      found.stdout,
      new RegExp(
        `^corrupt ${layer.digest} \\(its bytes are sha256:[0-9a-f]{64}\\), held by hub/team/first \\(blob\\)$`,
        "m",
      ),
    );
    assert.match(found.stdout, /1 problem \(--repair mends them\)/);

    const repaired = await cli(["verify", "--repair"]);
    assert.equal(repaired.code, 1, repaired.stderr);
    assert.match(repaired.stdout, /moved to .*quarantine.*, 1 links and 0 manifests removed/);
    assert.match(
      repaired.stdout,
      new RegExp(`hub/team/first@${first.digest} lost ${layer.digest}: the next pull fetches it again`),
    );
    assert.equal(fs.readdirSync(path.join(wharf.dataDir, "quarantine")).length, 1);
    assert.ok(!storedDigests(wharf.dataDir).includes(layer.digest));

    const clean = await cli(["verify"]);
    assert.equal(clean.code, 0, clean.stdout);
    const before = blobGets(layer.digest);
    await pull("hub/team/first:1", first);
    assert.equal(blobGets(layer.digest), before + 1, "fetched again from upstream");
  });

  test("a lost layer file: reported missing, forgotten by --repair, and pulled again", async () => {
    const layer = ownLayer(second);
    fs.rmSync(blobPath(wharf.dataDir, layer.digest));
    const found = await cli(["verify"]);
    assert.equal(found.code, 1);
    assert.match(
      found.stdout,
      new RegExp(`^missing ${layer.digest}, held by hub/team/second \\(blob\\)$`, "m"),
    );
    const repaired = await cli(["verify", "--repair"]);
    assert.equal(repaired.code, 1);
    assert.match(repaired.stdout, /1 links and 0 manifests removed/);
    assert.equal((await cli(["verify"])).code, 0);
    await pull("hub/team/second:1", second);
  });

  test("verify that cannot run exits 2", async () => {
    // A data directory that is a file: nothing can be opened there.
    const notADirectory = path.join(makeTempDir("verify"), "a-file");
    fs.writeFileSync(notADirectory, "");
    const result = await runWharfCli(["verify", "--data", notADirectory]);
    assert.equal(result.code, 2, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stderr, /wharf verify: cannot open/);
  });

  test("prune: --dry-run beside the server lists what a cap evicts; the real one refuses beside it, and evicts once it stopped", async () => {
    // The same data directory under a configuration with a cap that only the older image fits under.
    const capped = path.join(wharf.dir, "capped.yml");
    const sizeOf = (image: TestImage) => image.totalBytes;
    const config = {
      repositories: {
        hub: {
          type: "proxy",
          upstream: { url: proxy.url },
          max_size: Math.round(Math.max(sizeOf(first), sizeOf(second)) * 1.05),
        },
      },
    };
    fs.writeFileSync(capped, YAML.stringify(config));
    const dry = await cli(["prune", "--dry-run"], capped);
    assert.equal(dry.code, 0, dry.stderr);
    const lines = dry.stdout.split("\n").filter((line) => line.startsWith("would evict hub/"));
    assert.ok(lines.length >= 1, dry.stdout);
    for (const line of lines) {
      assert.match(
        line,
        /^would evict hub\/team\/(first|second):1 \(sha256:[0-9a-f]{64}\), (last pulled|cached, never pulled, at) \d{4}-\d\d-\d\dT[^,]+, [\d.]+ (KiB|MiB), frees [\d.]+ (B|KiB|MiB) \(repository-cap\)$/,
      );
    }
    assert.match(dry.stdout, /^would evict \d+ images, freeing [\d.]+ (KiB|MiB): the store would go from /m);
    const stored = storedDigests(wharf.dataDir);
    const refused = await cli(["prune"], capped);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /a wharf server \(pid \d+\) works on .* stop it first, or use --dry-run/);
    assert.deepEqual(storedDigests(wharf.dataDir), stored, "a refused prune changes nothing");

    await wharf.stop();
    const real = await cli(["prune"], capped);
    assert.equal(real.code, 0, real.stderr);
    assert.equal(
      real.stdout.split("\n").filter((line) => line.startsWith("evicted hub/")).length,
      lines.length,
    );
    assert.ok(storedDigests(wharf.dataDir).length < stored.length);
    assert.equal((await cli(["verify"])).code, 0, "what prune left verifies clean");
    await wharf.restart();
    await pull("hub/team/first:1", first);
    await pull("hub/team/second:1", second);
  });

  test("SIGTERM during a cold pull; after a restart verify is clean and the pull succeeds", async () => {
    const image = derivedImage(base, "verify-cold");
    await pushImage(image, up, "team/cold:1");
    const layer = ownLayer(image);
    proxy.setMode("slow-blob", { digests: [layer.digest], bytesPerSec: 16 * 1024 });
    let receiving: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      receiving = resolve;
    });
    const client = streamGet(wharf.url, `/v2/hub/team/cold/blobs/${layer.digest}`, {
      onData: () => receiving(),
    });
    await started;
    await wharf.stop();
    const cut = await client;
    assert.equal(cut.complete, false);
    proxy.setMode("ok");
    await wharf.restart();
    const verified = await cli(["verify"]);
    assert.equal(verified.code, 0, verified.stdout);
    await pull("hub/team/cold:1", image);
  });
});
