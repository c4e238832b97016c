// Issue 9, a bounded cache with real clients: a small cap while several clients pull different
// images at once (every pull byte-exact, the repository at or under its cap once eviction settles,
// hosted and pinned images still pulling byte-exact, an evicted image pulling again from
// upstream), and eviction racing pulls of the very image it removes.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import YAML from "yaml";
import { skopeoCopy } from "../harness/clients/index.js";
import { derivedImage } from "../harness/images/layered.js";
import { pushImage } from "../harness/images/push.js";
import { allDigests, expectedContent, getImage, type TestImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { storedDigests } from "../harness/wharf/data.js";
import { startWharf, type Wharf, type WharfLogLine } from "../harness/wharf/start.js";

interface StatusRepository {
  name: string;
  store?: { bytes: number; cap?: number };
}

async function repositoryStore(
  wharf: Wharf,
  name: string,
): Promise<{ bytes: number; cap?: number } | undefined> {
  const response = await fetch(`${wharf.url}/api/status`);
  const body = (await response.json()) as { repositories: StatusRepository[] };
  return body.repositories.find((repository) => repository.name === name)?.store;
}

const evictions = (wharf: Wharf): WharfLogLine[] =>
  wharf.logLines().filter((line) => line.msg === "evicted image");

async function pull(wharf: Wharf, ref: string, image: TestImage): Promise<void> {
  const result = await skopeoCopy(`${wharf.host}/${ref}`, makeTempDir("pull"));
  assert.deepEqual(result.content, expectedContent(image), ref);
}

describe("a bounded cache under concurrent pulls", () => {
  let up: Upstream;
  let wharf: Wharf;
  const base = getImage("small");
  const images = ["a", "b", "c", "d", "e", "f"].map((label) => derivedImage(base, `evict-${label}`));
  const pinned = derivedImage(base, "evict-pinned");
  const hosted = derivedImage(base, "evict-hosted");
  /** Bytes the proxy repository holds for the shared base, and for each image on top of it. */
  const shared = base.blobs.filter((blob) => blob.digest !== base.manifests[0]?.config.digest);
  const baseBytes = shared.reduce((sum, blob) => sum + blob.size, 0);
  const ownBytes = (image: TestImage) => image.totalBytes - baseBytes;
  // Room for the base and about five images' own parts: seven pulled, so two or more must go.
  const cap = baseBytes + 5 * Math.max(...[...images, pinned].map(ownBytes));

  before(async () => {
    up = await startUpstream({ auth: "none" });
    for (const [index, image] of images.entries()) await pushImage(image, up, `team/img-${index}:1`);
    await pushImage(pinned, up, "team/pinned:1");
    const config = {
      cache: { check_interval: "1s" },
      usage: { flush_interval: "1s" },
      repositories: {
        hub: { type: "proxy", upstream: { url: up.url }, max_size: cap, keep: ["team/pinned"] },
        internal: { type: "hosted" },
      },
    };
    wharf = await startWharf({ configYaml: YAML.stringify(config) });
    // A hosted image on the same base: its layers are the proxy's too, and must never go.
    await pushImage(hosted, { host: wharf.host }, "internal/app:1");
  });
  after(async () => {
    await wharf?.close();
    await up?.close();
  });

  test("every concurrent pull is byte-exact and the repository settles at or under its cap", async () => {
    await Promise.all([
      pull(wharf, "hub/team/pinned:1", pinned),
      ...images.map((image, index) => pull(wharf, `hub/team/img-${index}:1`, image)),
    ]);
    const deadline = Date.now() + 30_000;
    let store = await repositoryStore(wharf, "hub");
    while (
      Date.now() < deadline &&
      (evictions(wharf).length === 0 || (store?.bytes ?? Number.POSITIVE_INFINITY) > cap)
    ) {
      await sleep(200);
      store = await repositoryStore(wharf, "hub");
    }
    assert.ok(evictions(wharf).length >= 2, `${evictions(wharf).length} evictions`);
    assert.equal(store?.cap, cap);
    assert.ok((store?.bytes ?? Number.POSITIVE_INFINITY) <= cap, `hub holds ${store?.bytes} of ${cap}`);
    for (const line of evictions(wharf)) {
      assert.equal(line.repo, "hub");
      assert.notEqual(line.name, "team/pinned", "a pinned image was evicted");
      assert.equal(typeof line.bytes, "number");
      assert.equal(line.reason, "repository-cap");
    }
  });

  test("the hosted image, the pinned one and the base they share are still there and pull byte-exact", async () => {
    const stored = new Set(storedDigests(wharf.dataDir));
    for (const digest of [...allDigests(expectedContent(hosted)), ...allDigests(expectedContent(pinned))]) {
      assert.ok(stored.has(digest), `${digest} is gone`);
    }
    await pull(wharf, "internal/app:1", hosted);
    await pull(wharf, "hub/team/pinned:1", pinned);
  });

  test("an evicted image is gone from disk and pulls again from upstream", async () => {
    const [line] = evictions(wharf);
    const index = Number(/^team\/img-(\d+)$/.exec(String(line?.name))?.[1]);
    const image = images[index];
    assert.ok(image, `evicted ${String(line?.name)}`);
    const own = image.blobs.filter((blob) => !base.blobs.some((b) => b.digest === blob.digest));
    const stored = new Set(storedDigests(wharf.dataDir));
    for (const blob of own)
      assert.ok(!stored.has(blob.digest), `${blob.digest} of an evicted image is still stored`);
    const mark = up.mark();
    await pull(wharf, `hub/team/img-${index}:1`, image);
    await up.settle();
    for (const blob of own) {
      const gets = up.count({
        method: "GET",
        pathRegex: new RegExp(`/blobs/${blob.digest}$`),
        status: 200,
        since: mark,
      });
      assert.equal(gets, 1, `${blob.digest} fetched ${gets} times`);
    }
  });
});

describe("eviction racing pulls of the image it removes", () => {
  let up: Upstream;
  let wharf: Wharf;
  const image = derivedImage(getImage("small"), "evict-race");

  before(async () => {
    up = await startUpstream({ auth: "none" });
    await pushImage(image, up, "team/racing:1");
    // A cap nothing fits under: every check evicts whatever was pulled since the last one.
    const config = {
      cache: { check_interval: "100ms" },
      repositories: { hub: { type: "proxy", upstream: { url: up.url }, max_size: 1 } },
    };
    wharf = await startWharf({ configYaml: YAML.stringify(config) });
  });
  after(async () => {
    await wharf?.close();
    await up?.close();
  });

  test("each pull gets the whole image, byte-exact, while its blobs are evicted under it", async () => {
    for (let round = 0; round < 6; round++) {
      await Promise.all([0, 1].map(() => pull(wharf, "hub/team/racing:1", image)));
    }
    assert.ok(evictions(wharf).length >= 3, `only ${evictions(wharf).length} evictions ran during the pulls`);
    // What was evicted was fetched again: the pulls did not find it stored.
    await up.settle();
    const own = image.blobs.find((blob) => blob.size > 90 * 1024 && blob.size < 110 * 1024);
    assert.ok(own);
    const fetched = up.count({ method: "GET", pathRegex: new RegExp(`/blobs/${own.digest}$`), status: 200 });
    assert.ok(fetched >= 2, `the image's own layer was fetched ${fetched} times`);
  });
});
