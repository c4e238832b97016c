// Issue 9, sync with real peers: a tag newly pushed upstream is picked up within the entry's
// interval and pulled whole (it then pulls with the upstream gone); with Docker Hub's pull limit
// played by the fault proxy, the run pauses once the budget is under the reserve, says so in
// /api/status, and a person's pull still gets the budget left.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import YAML from "yaml";
import { skopeoCopy } from "../harness/clients/index.js";
import { derivedImage } from "../harness/images/layered.js";
import { pushImage } from "../harness/images/push.js";
import { expectedContent, getImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { type FaultProxy, startFaultProxy } from "../harness/upstream/fault-proxy.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

interface SyncStatus {
  image: string;
  lastRun?: { result: string; pulled: string[]; reason?: string; finishedAt: string };
}

async function syncStatus(wharf: Wharf, repo = "hub"): Promise<SyncStatus[]> {
  const response = await fetch(`${wharf.url}/api/status`);
  const body = (await response.json()) as { repositories: Array<{ name: string; sync?: SyncStatus[] }> };
  return body.repositories.find((repository) => repository.name === repo)?.sync ?? [];
}

/** Polls the first entry's status until `done` holds; fails after `timeoutMs`. */
async function waitSync(
  wharf: Wharf,
  done: (status: SyncStatus) => boolean,
  timeoutMs = 20_000,
): Promise<SyncStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [status] = await syncStatus(wharf);
    if (status && done(status)) return status;
    if (Date.now() > deadline) throw new Error(`sync never got there: ${JSON.stringify(status)}`);
    await sleep(200);
  }
}

describe("sync picks up a tag newly pushed upstream", () => {
  let up: Upstream;
  let wharf: Wharf;
  const base = getImage("small");
  const v1 = derivedImage(base, "sync-v1");
  const v2 = derivedImage(base, "sync-v2");
  /** The upstream's log from when wharf started: the pushes before are not wharf's requests. */
  let pushed = 0;

  before(async () => {
    up = await startUpstream({ auth: "none" });
    await pushImage(v1, up, "team/app:v1");
    await pushImage(base, up, "team/app:latest");
    await up.settle();
    pushed = up.mark();
    const config = {
      repositories: {
        hub: {
          type: "proxy",
          upstream: { url: up.url },
          sync: [{ image: "team/app", regex: "^v\\d+$", interval: "1s" }],
        },
      },
    };
    wharf = await startWharf({ configYaml: YAML.stringify(config) });
  });
  after(async () => {
    await wharf?.close();
    await up?.close();
  });

  test("the first run pulls the matching tags whole; a tag pushed later arrives within the interval", async () => {
    const first = await waitSync(wharf, (s) => s.lastRun?.result === "ok");
    assert.deepEqual(first.lastRun?.pulled, ["v1"]);
    await pushImage(v2, up, "team/app:v2");
    const pushedAt = Date.now();
    const later = await waitSync(wharf, (s) => s.lastRun?.pulled.includes("v2") === true);
    assert.equal(later.lastRun?.result, "ok");
    assert.ok(Date.now() - pushedAt < 10_000, `took ${Date.now() - pushedAt} ms`);
    // Unchanged, v1 costs the next runs no GET.
    await up.settle();
    const gets = up.count({ method: "GET", pathRegex: /\/manifests\/v1$/ });
    await waitSync(wharf, (s) => Date.parse(s.lastRun?.finishedAt ?? "") > Date.now() - 500);
    await up.settle();
    assert.equal(up.count({ method: "GET", pathRegex: /\/manifests\/v1$/ }), gets);
    assert.equal(
      up.count({ method: "GET", pathRegex: /\/manifests\/latest$/, since: pushed }),
      0,
      "latest does not match",
    );
  });

  test("what sync pulled is there whole: it pulls byte-exact with the upstream gone", async () => {
    await up.stop();
    try {
      const result = await skopeoCopy(`${wharf.host}/hub/team/app:v2`, makeTempDir("pull"));
      assert.deepEqual(result.content, expectedContent(v2));
    } finally {
      await up.start();
    }
  });
});

describe("sync under Docker Hub's pull limit", () => {
  let up: Upstream;
  let proxy: FaultProxy;
  let wharf: Wharf;
  const base = getImage("small");
  const images = ["a", "b", "c", "d"].map((label) => derivedImage(base, `sync-budget-${label}`));
  const LIMIT = 10;

  before(async () => {
    up = await startUpstream({ auth: "token" });
    for (const [index, image] of images.entries()) await pushImage(image, up, `team/app:${index}`);
    await pushImage(base, up, "team/other:1");
    proxy = await startFaultProxy({ target: up.url, mode: "ratelimit", limit: LIMIT });
    const config = {
      repositories: {
        hub: {
          type: "proxy",
          upstream: { url: proxy.url },
          sync: [{ image: "team/app", tags: ["0", "1", "2", "3"], interval: "1h", reserve: LIMIT - 1 }],
        },
      },
    };
    wharf = await startWharf({ configYaml: YAML.stringify(config) });
  });
  after(async () => {
    await wharf?.close();
    await proxy?.close();
    await up?.close();
  });

  test("the run pauses once the budget is under the reserve, says so, and leaves the rest to people", async () => {
    const status = await waitSync(wharf, (s) => s.lastRun !== undefined);
    assert.equal(status.lastRun?.result, "paused", JSON.stringify(status));
    // 10 allowed, 9 kept back: one counted GET puts the budget at 9, the second at 8, under the reserve.
    assert.deepEqual(status.lastRun?.pulled, ["0", "1"]);
    assert.match(status.lastRun?.reason ?? "", /8 pulls left upstream, under the reserve of 9/);
    assert.equal(proxy.stats().rateCounted, 2);
    const result = await skopeoCopy(`${wharf.host}/hub/team/other:1`, makeTempDir("pull"));
    assert.deepEqual(result.content, expectedContent(base));
    const metrics = await (await fetch(`${wharf.url}/metrics`)).text();
    assert.match(metrics, /^wharf_sync_runs_total\{repo="hub",result="paused"\} 1$/m);
    assert.match(metrics, /^wharf_sync_images_total\{repo="hub"\} 2$/m);
  });
});
