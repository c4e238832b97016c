// Issue 9, metrics against what a test did: a scripted sequence of pulls through a group in front
// of a proxy (a cold pull, a warm one, a HEAD), then /metrics and /api/status are read and compared
// exactly: hits and misses by kind, under the proxy that served and not the group, bytes served
// and fetched (so bytes saved is their difference), upstream requests; and the usage it recorded
// reaches the metadata (prune --dry-run tells the image was pulled).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import { parseMetrics, type Sample } from "../../src/cli/status-report.js";
import { ACCEPT_MANIFESTS, rawRequest } from "../harness/http/requests.js";
import { pushImage } from "../harness/images/push.js";
import { getImage } from "../harness/images/test-images.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { runWharfCli } from "../harness/wharf/cli.js";
import { waitStored } from "../harness/wharf/data.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

/** The sum of the samples of `name` whose labels include `labels`. */
function value(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([key, v]) => s.labels[key] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

describe("metrics after a scripted sequence of pulls", () => {
  let up: Upstream;
  let wharf: Wharf;
  const image = getImage("small");
  const blobBytes = image.blobs.reduce((sum, blob) => sum + blob.size, 0);
  const get = (p: string, method = "GET") =>
    rawRequest(wharf.url, p, { method, headers: { accept: ACCEPT_MANIFESTS } });
  let samples: Sample[];

  before(async () => {
    up = await startUpstream({ auth: "none" });
    await pushImage(image, up, "team/app:1");
    const config = {
      usage: { flush_interval: "1s" },
      cache: { check_interval: "1s" },
      repositories: {
        internal: { type: "hosted" },
        hub: { type: "proxy", upstream: { url: up.url }, tag_ttl: "1h" },
        all: { type: "group", members: ["internal", "hub"] },
      },
    };
    wharf = await startWharf({ configYaml: YAML.stringify(config) });
    // Cold: the manifest and every blob miss. Then warm: all hits. Then a HEAD: a hit, no bytes.
    for (const round of ["cold", "warm"]) {
      const manifest = await get("/v2/all/team/app/manifests/1");
      assert.equal(manifest.status, 200, round);
      for (const blob of image.blobs) {
        const response = await get(`/v2/all/team/app/blobs/${blob.digest}`);
        assert.equal(response.status, 200, `${round} ${blob.digest}`);
        assert.equal(response.body.byteLength, blob.size);
      }
      if (round === "cold")
        await waitStored(
          wharf.dataDir,
          image.blobs.map((blob) => blob.digest),
        );
    }
    assert.equal((await get("/v2/all/team/app/manifests/1", "HEAD")).status, 200);
    // A response is counted when the server has finished it, which may come a moment after the
    // client has every byte (sendfile's bytes go out before the response ends): wait for all.
    const counted = () => value(samples, "wharf_http_requests_total", { repo: "all" });
    const deadline = Date.now() + 10_000;
    do samples = parseMetrics((await get("/metrics")).body.toString());
    while (counted() < 3 + 2 * image.blobs.length && Date.now() < deadline);
  });
  after(async () => {
    await wharf?.close();
    await up?.close();
  });

  test("cache results count every answer under the proxy that served it, by kind and outcome", () => {
    const results = (labels: Record<string, string>) => value(samples, "wharf_cache_results_total", labels);
    assert.equal(results({ repo: "hub", kind: "manifest", result: "miss" }), 1);
    assert.equal(results({ repo: "hub", kind: "manifest", result: "hit" }), 2, "the warm GET and the HEAD");
    assert.equal(results({ repo: "hub", kind: "blob", result: "miss" }), image.blobs.length);
    assert.equal(results({ repo: "hub", kind: "blob", result: "hit" }), image.blobs.length);
    assert.equal(results({ repo: "all" }), 0, "never under the group in front");
    // The requests themselves are counted under the repository they were routed to.
    assert.equal(value(samples, "wharf_http_requests_total", { repo: "all", route: "manifest" }), 3);
    assert.equal(
      value(samples, "wharf_http_requests_total", { repo: "all", route: "blob" }),
      2 * image.blobs.length,
    );
  });

  test("bytes served and fetched are exact, so bytes saved is their difference", () => {
    const served = (labels: Record<string, string>) => value(samples, "wharf_served_bytes_total", labels);
    const fetched = (labels: Record<string, string>) =>
      value(samples, "wharf_upstream_fetched_bytes_total", labels);
    assert.equal(served({ repo: "hub", kind: "manifest", result: "miss" }), image.size);
    assert.equal(
      served({ repo: "hub", kind: "manifest", result: "hit" }),
      image.size,
      "a HEAD sends no body",
    );
    assert.equal(served({ repo: "hub", kind: "blob", result: "miss" }), blobBytes);
    assert.equal(served({ repo: "hub", kind: "blob", result: "hit" }), blobBytes);
    assert.equal(fetched({ repo: "hub", kind: "manifest" }), image.size);
    assert.equal(fetched({ repo: "hub", kind: "blob" }), blobBytes);
    assert.equal(served({}) - fetched({}), image.size + blobBytes, "what the warm pull did not fetch");
  });

  test("upstream requests: one manifest GET and one GET per blob, by upstream, kind and status", () => {
    const requests = (labels: Record<string, string>) =>
      value(samples, "wharf_upstream_requests_total", labels);
    assert.equal(requests({ upstream: "hub", kind: "manifest", status: "200" }), 1);
    assert.equal(requests({ upstream: "hub", kind: "blob", status: "200" }), image.blobs.length);
    assert.equal(requests({ upstream: "hub" }), 1 + image.blobs.length, "nothing else went upstream");
    assert.ok(value(samples, "wharf_upstream_request_duration_seconds_count", { upstream: "hub" }) >= 1);
    assert.equal(value(samples, "wharf_inflight_downloads"), 0);
  });

  test("/api/status adds them up, overall and per repository, and says what the store holds", async () => {
    type Status = {
      cache: Record<string, number>;
      store?: { bytes: number; measuredAt: string };
      repositories: Array<{ name: string; cache?: Record<string, number>; store?: { bytes: number } }>;
    };
    const read = async () => JSON.parse((await get("/api/status")).body.toString()) as Status;
    // The store is measured every check_interval (1 s here): wait for a measurement after the pulls.
    let status = await read();
    for (const deadline = Date.now() + 10_000; (status.store?.bytes ?? 0) === 0 && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      status = await read();
    }
    const expected = {
      hits: 2 + image.blobs.length,
      misses: 1 + image.blobs.length,
      bytesServed: 2 * (image.size + blobBytes),
      bytesFetched: image.size + blobBytes,
    };
    assert.deepEqual(status.cache, expected);
    const hub = status.repositories.find((r) => r.name === "hub");
    assert.deepEqual(hub?.cache, expected);
    assert.equal(status.repositories.find((r) => r.name === "all")?.cache, undefined);
    assert.equal(hub?.store?.bytes, image.size + blobBytes);
    assert.equal(status.store?.bytes, image.size + blobBytes);
  });

  test("the pulls were recorded as usage: prune --dry-run says when the image was last pulled", async () => {
    const capped = path.join(wharf.dir, "capped.yml");
    const config = { repositories: { hub: { type: "proxy", upstream: { url: up.url }, max_size: 1 } } };
    fs.writeFileSync(capped, YAML.stringify(config));
    const dryRun = () => runWharfCli(["prune", "--dry-run", "--config", capped, "--data", wharf.dataDir]);
    // The recorder writes about every second.
    const deadline = Date.now() + 10_000;
    let result = await dryRun();
    while (Date.now() < deadline && !/last pulled/.test(result.stdout)) result = await dryRun();
    assert.match(
      result.stdout,
      new RegExp(`^would evict hub/team/app:1 \\(${image.digest}\\), last pulled `, "m"),
    );
  });
});
