// Issue 3, case 5: pushes racing on shared content. Four skopeo pushes at once of images built on
// the same base layers, under different names (directly and through the group), and eight
// one-request uploads of one blob at once; afterwards every image pulls back byte-exact and no
// upload session or spool file is left behind.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import { skopeoCopy } from "../harness/clients/index.js";
import { rawRequest, sha256 } from "../harness/http/requests.js";
import { pushBlob } from "../harness/http/uploads.js";
import { derivedImage } from "../harness/images/layered.js";
import { pushImage } from "../harness/images/push.js";
import { allDigests, expectedContent, getImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { spoolEntries, storedDigests } from "../harness/wharf/data.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

describe("concurrent pushes of images that share layers", () => {
  let wharf: Wharf;
  const base = getImage("small");
  const images = ["one", "two", "three", "four"].map((label) => derivedImage(base, `race-${label}`));

  before(async () => {
    const config = {
      repositories: {
        internal: { type: "hosted" },
        all: { type: "group", members: ["internal"] },
      },
    };
    wharf = await startWharf({ configYaml: YAML.stringify(config) });
  });
  after(() => wharf?.close());

  const leftovers = () => ({
    uploads: fs.readdirSync(path.join(wharf.dataDir, "uploads")),
    spool: spoolEntries(wharf.dataDir),
  });

  test("four skopeo pushes at once (two straight in, two through the group) all pull back byte-exact", async () => {
    const shared = base.manifests[0]!.layers.map((l) => l.digest);
    for (const image of images)
      for (const layer of shared) assert.ok(image.manifests[0]!.layers.some((l) => l.digest === layer));
    await Promise.all(
      images.map((image, i) =>
        pushImage(image, { host: wharf.host }, `${i % 2 === 0 ? "internal" : "all"}/team/app-${i}:1`),
      ),
    );
    const pulls = await Promise.all(
      images.map((_, i) => skopeoCopy(`${wharf.host}/internal/team/app-${i}:1`, makeTempDir("pull"))),
    );
    assert.deepEqual(
      pulls.map((pull) => pull.content),
      images.map((image) => expectedContent(image)),
    );
    const stored = new Set(storedDigests(wharf.dataDir));
    for (const image of images)
      for (const digest of allDigests(expectedContent(image))) assert.ok(stored.has(digest), digest);
    assert.deepEqual(leftovers(), { uploads: [], spool: [] }, "no session or spool file left behind");
  });

  test("eight one-request uploads of the same blob to different names at once: all 201, all readable", async () => {
    const blob = crypto.randomBytes(2 * 1024 * 1024);
    const names = Array.from({ length: 8 }, (_, i) => `internal/same-blob-${i}`);
    const digests = await Promise.all(names.map((name) => pushBlob(wharf.url, name, blob)));
    assert.deepEqual(new Set(digests), new Set([sha256(blob)]));
    for (const name of names) {
      const res = await rawRequest(wharf.url, `/v2/${name}/blobs/${sha256(blob)}`);
      assert.equal(res.status, 200, name);
      assert.ok(res.body.equals(blob), name);
    }
    assert.deepEqual(leftovers(), { uploads: [], spool: [] });
  });
});
