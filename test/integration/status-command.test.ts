// Issue 9, item 6: `wharf status` tells an operator how a running instance is, as a table and as
// JSON, and its exit status tells a script whether the instance is reachable and ready.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { skopeoCopy } from "../harness/clients/index.js";
import { pushImage } from "../harness/images/push.js";
import { expectedContent, getImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { type FaultProxy, startFaultProxy } from "../harness/upstream/fault-proxy.js";
import { runWharfCli } from "../harness/wharf/cli.js";
import { proxyEnv } from "../harness/wharf/proxy-env.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

interface StatusJson {
  url: string;
  reachable: boolean;
  alive: boolean;
  ready: boolean;
  errors: string[];
  readiness?: { checks: Record<string, { ok: boolean; error?: string }> };
  status?: {
    version: string;
    repositories: Array<{
      name: string;
      type: string;
      upstream?: { url: string; rateLimit?: { limit?: number; remaining?: number } };
    }>;
  };
  requests?: Record<string, Record<string, number>>;
}

describe("wharf status", () => {
  let up: Upstream;
  let proxy: FaultProxy;
  let wharf: Wharf;
  const small = getImage("small");

  before(async () => {
    up = await startUpstream({ auth: "token" });
    await pushImage(small, up, "library/small:latest");
    // Docker Hub's ratelimit-* headers, so the table has a budget to show.
    proxy = await startFaultProxy({ target: up.url, mode: "ratelimit", limit: 100 });
    wharf = await startWharf({ env: proxyEnv(proxy.url) });
    for (let i = 0; i < 2; i++) {
      const pulled = await skopeoCopy(`${wharf.host}/library/small:latest`, makeTempDir("pull"));
      assert.deepEqual(pulled.content, expectedContent(small));
    }
  });
  after(async () => {
    await wharf?.close();
    await proxy?.close();
    await up?.close();
  });

  test("--json: reachable, ready, the repositories with their upstream and budget, requests by cache outcome", async () => {
    const result = await runWharfCli(["status", "--url", wharf.url, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as StatusJson;
    assert.equal(report.url, wharf.url);
    assert.deepEqual([report.reachable, report.alive, report.ready], [true, true, true]);
    assert.deepEqual(report.errors, []);
    assert.equal(report.readiness?.checks.store?.ok, true);
    const hub = report.status?.repositories.find((r) => r.name === "docker-hub");
    assert.equal(hub?.type, "proxy");
    assert.equal(hub?.upstream?.url, proxy.url);
    assert.equal(hub?.upstream?.rateLimit?.limit, 100);
    const counts = report.requests?.["docker-hub"] ?? {};
    // Two pulls of a one-platform image: the second finds every blob in the store.
    const blobs = small.manifests[0]!.layers.length + 1;
    assert.ok((counts.miss ?? 0) >= blobs, JSON.stringify(counts));
    assert.ok((counts.hit ?? 0) >= blobs, JSON.stringify(counts));
  });

  test("the table: a summary line and a row per repository", async () => {
    const result = await runWharfCli(["status", "--url", wharf.url]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split("\n");
    assert.match(
      lines[0] ?? "",
      new RegExp(`^wharf \\d+\\.\\d+\\.\\d+ at ${wharf.url}: ready, up \\d+[smhd]`),
    );
    assert.match(result.stdout, /^REPOSITORY +TYPE +UPSTREAM +REQUESTS +HIT +MISS .*BUDGET$/m);
    const row = lines.find((line) => line.startsWith("docker-hub"));
    assert.match(row ?? "", new RegExp(`^docker-hub +proxy +${proxy.url} +\\d+ +\\d+ +\\d+ .* \\d+/100$`));
  });

  test("without --url it asks the listen address of the configuration", async () => {
    const result = await runWharfCli(["status", "--listen", wharf.host, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as StatusJson).url, `http://${wharf.host}`);
  });

  test("not ready: exit 1 and the failed check named; unreachable: exit 1", async () => {
    const spool = path.join(wharf.dataDir, "tmp");
    fs.rmSync(spool, { recursive: true });
    try {
      let result = await runWharfCli(["status", "--url", wharf.url]);
      // The last probe may still be cached for a moment.
      for (let i = 0; i < 40 && result.code === 0; i++, await sleep(100))
        result = await runWharfCli(["status", "--url", wharf.url]);
      assert.equal(result.code, 1);
      assert.match(result.stdout, /: NOT READY \(store: .*ENOENT.*\), up /);
    } finally {
      fs.mkdirSync(spool);
    }
    await wharf.stop();
    const gone = await runWharfCli(["status", "--url", wharf.url, "--json"]);
    assert.equal(gone.code, 1);
    const report = JSON.parse(gone.stdout) as StatusJson;
    assert.equal(report.reachable, false);
    assert.match(report.errors.join(" "), /ECONNREFUSED/);
    const table = await runWharfCli(["status", "--url", wharf.url]);
    assert.equal(table.code, 1);
    assert.match(table.stdout, /unreachable/);
  });
});
