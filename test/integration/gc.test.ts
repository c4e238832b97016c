// Issue 3, case 6: `wharf gc` beside a running wharf. Images sharing base layers are pushed, some
// tags and manifests deleted; --dry-run changes nothing and lists exactly what the real run then
// removes; only blobs that no manifest of any repository references go (a proxy's cached copy of
// a deleted hosted image keeps it alive, an index keeps its children); --untagged also removes
// untagged hosted manifests; every remaining image pulls back byte-exact, during and after.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { skopeoCopy } from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { ACCEPT_MANIFESTS, rawRequest } from "../harness/http/requests.js";
import { derivedImage } from "../harness/images/layered.js";
import { pushImage } from "../harness/images/push.js";
import { allDigests, expectedContent, getImage, type TestImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { retag } from "../harness/upstream/registry-write.js";
import { runGc } from "../harness/wharf/cli.js";
import { storedDigests } from "../harness/wharf/data.js";
import type { Wharf } from "../harness/wharf/start.js";

describe("garbage collection beside a running wharf", () => {
  let fx: ProxyFixture;
  let wharf: Wharf;
  const base = getImage("small");
  const [a, b, c, e] = ["a", "b", "c", "e"].map((label) => derivedImage(base, `gc-${label}`)) as [
    TestImage,
    TestImage,
    TestImage,
    TestImage,
  ];
  const docker = getImage("docker");
  const multi = getImage("multi");
  /** What must still pull, byte-exact: reference → image (and whether it is a whole index). */
  const remaining: Array<[string, TestImage, boolean]> = [
    ["internal/app/a:1", a, false],
    ["internal/app/c:2", c, false],
    ["internal/app/multi:1", multi, true],
    ["hub/team/d:1", docker, false],
  ];
  /** Digests (manifest, config, layers) that belong to `image` and to none of `others`. */
  const onlyIn = (image: TestImage, others: TestImage[]) => {
    const kept = new Set(others.flatMap((o) => allDigests(expectedContent(o, { all: true }))));
    return allDigests(expectedContent(image)).filter((d) => !kept.has(d));
  };
  const head = (path: string) =>
    rawRequest(wharf.url, path, { method: "HEAD", headers: { accept: ACCEPT_MANIFESTS } });

  before(async () => {
    fx = await withProxy({
      upstream: { auth: "none", images: [{ image: docker, ref: "team/d:1" }] },
      wharf: {
        config: ({ url }) => ({
          repositories: { internal: { type: "hosted" }, hub: { type: "proxy", upstream: { url } } },
        }),
      },
    });
    wharf = fx.wharf;
    const host = { host: wharf.host };
    await pushImage(a, host, "internal/app/a:1");
    await pushImage(b, host, "internal/app/b:1");
    await pushImage(c, host, "internal/app/c:1");
    await retag({ url: wharf.url }, "internal/app/c", "2", c);
    await pushImage(docker, host, "internal/app/d:1");
    await pushImage(e, host, "internal/app/e:1");
    await pushImage(multi, host, "internal/app/multi:1", { all: true });
    // the proxy caches the same image as internal/app/d: deleting it in internal must not free its blobs
    await pull("hub/team/d:1", docker);
    const deletes = [
      "/v2/internal/app/b/manifests/1",
      "/v2/internal/app/c/manifests/1",
      `/v2/internal/app/d/manifests/${docker.digest}`,
      `/v2/internal/app/e/manifests/${e.digest}`,
    ];
    for (const path of deletes) {
      const res = await rawRequest(wharf.url, path, { method: "DELETE" });
      assert.equal(res.status, 202, `DELETE ${path}: ${res.body.toString()}`);
    }
  });
  after(() => fx?.close());

  async function pull(ref: string, image: TestImage, all = false): Promise<void> {
    const r = await skopeoCopy(`${wharf.host}/${ref}`, makeTempDir("pull"), { all });
    assert.deepEqual(r.content, expectedContent(image, { all }), ref);
  }

  async function remainingPullBack(): Promise<void> {
    await Promise.all(remaining.map(([ref, image, all]) => pull(ref, image, all)));
  }

  function assertRemainingStored(): void {
    const stored = new Set(storedDigests(wharf.dataDir));
    for (const [ref, image, all] of remaining)
      for (const digest of allDigests(expectedContent(image, { all })))
        assert.ok(stored.has(digest), `${ref}: ${digest}`);
  }

  test("within the grace period nothing is collectable; --dry-run --grace 0s lists what only the deleted image used and changes nothing", async () => {
    const before = storedDigests(wharf.dataDir);
    const young = await runGc(wharf, ["--dry-run"]);
    assert.deepEqual({ manifests: young.manifests, blobs: young.blobs }, { manifests: [], blobs: [] });
    const dry = await runGc(wharf, ["--dry-run", "--grace", "0s"]);
    assert.deepEqual(dry.blobs, onlyIn(e, [a, b, c, docker, multi]).sort());
    assert.deepEqual(dry.manifests, []);
    assert.deepEqual(storedDigests(wharf.dataDir), before, "a dry run removes nothing");
  });

  test("the real run removes exactly what the dry run listed, while clients pull; the rest pulls back byte-exact", async () => {
    const before = storedDigests(wharf.dataDir);
    const dry = await runGc(wharf, ["--dry-run", "--grace", "0s"]);
    const [real] = await Promise.all([runGc(wharf, ["--grace", "0s"]), remainingPullBack()]);
    assert.deepEqual(real.blobs, dry.blobs);
    assert.deepEqual(
      storedDigests(wharf.dataDir),
      before.filter((d) => !real.blobs.includes(d)),
    );
    assertRemainingStored();
    await remainingPullBack();
    assert.equal(
      (await head(`/v2/internal/app/b/manifests/${b.digest}`)).status,
      200,
      "untagged, still kept",
    );
  });

  test("--untagged also removes hosted manifests no tag reaches (not an index's children), and what only they used", async () => {
    const dry = await runGc(wharf, ["--dry-run", "--untagged", "--grace", "0s"]);
    assert.deepEqual(dry.manifests, [`internal/app/b@${b.digest}`]);
    assert.deepEqual(dry.blobs, onlyIn(b, [a, c, docker, multi]).sort());
    const real = await runGc(wharf, ["--untagged", "--grace", "0s"]);
    assert.deepEqual(
      { manifests: real.manifests, blobs: real.blobs },
      { manifests: dry.manifests, blobs: dry.blobs },
    );
    assert.equal((await head(`/v2/internal/app/b/manifests/${b.digest}`)).status, 404);
    assertRemainingStored();
    await remainingPullBack();
    for (const child of multi.manifests)
      assert.equal(
        (await head(`/v2/internal/app/multi/manifests/${child.digest}`)).status,
        200,
        child.digest,
      );
  });

  test("images whose blobs were collected can be pushed again and pull back byte-exact", async () => {
    await pushImage(e, { host: wharf.host }, "internal/app/e:2");
    await pushImage(b, { host: wharf.host }, "internal/app/b:2");
    await pull("internal/app/e:2", e);
    await pull("internal/app/b:2", b);
  });
});
