// What repositories report as they serve, in-process: usage (tag and digest, GET counted, HEAD a
// use only) by the repository that answered and not the group in front of it, bytes fetched from
// upstream, failures to keep content; a blob whose file was evicted is fetched again; a download's
// link happens while its digest is still held; eviction racing a pull of the same image.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { type IngestGuard, type IngestLease, LocalIngestGuard } from "../../src/coordination/ingest-guard.js";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { CacheKeeper } from "../../src/ops/cache-keeper.js";
import { GroupRepository } from "../../src/repos/group.js";
import { HostedRepository } from "../../src/repos/hosted.js";
import type { ContentObserver } from "../../src/repos/observer.js";
import { ProxyRepository } from "../../src/repos/proxy.js";
import { Coalescer } from "../../src/store/coalescer.js";
import { FakeUpstream } from "../fakes/fake-upstream.js";
import { bytesOf, downloadEnded, GET, HEAD, hostedOf, proxyOf, tag, type World, world } from "./fixture.js";

const NAME = "team/app";

/** Every report, as a line: what a test compares. */
class Reports implements ContentObserver {
  readonly lines: string[] = [];
  readonly failures: unknown[] = [];

  manifestServed(repo: string, name: string, digest: string, how: { tag?: string; counted: boolean }): void {
    this.lines.push(
      `manifest ${repo} ${name} ${digest.slice(7, 15)} ${how.tag ?? "-"} ${how.counted ? "GET" : "HEAD"}`,
    );
  }

  blobServed(repo: string, name: string, digest: string): void {
    this.lines.push(`blob ${repo} ${name} ${digest.slice(7, 15)}`);
  }

  fetched(repo: string, kind: "manifest" | "blob", bytes: number): void {
    this.lines.push(`fetched ${repo} ${kind} ${bytes}`);
  }

  cacheFailed(repo: string, error: unknown): void {
    this.lines.push(`failed ${repo}`);
    this.failures.push(error);
  }
}

function observedProxy(
  w: World,
  upstream: FakeUpstream,
  observer: ContentObserver,
  name = "hub",
): ProxyRepository {
  return new ProxyRepository({
    name,
    upstream,
    libraryPrefix: false,
    tagTtlMs: 60_000,
    meta: w.meta,
    blobs: w.blobs,
    documents: w.documents,
    coalescer: w.coalescer,
    ingests: w.ingests,
    logger: w.logger,
    clock: w.clock,
    observer,
  });
}

const short = (digest: string) => digest.slice(7, 15);

describe("what repositories report as they serve", () => {
  test("a pull through a group: usage and fetched bytes under the proxy that served, the GET counted, a HEAD a use", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    const image = upstream.putImage(NAME, "1", ["layer one"]);
    const reports = new Reports();
    const proxy = observedProxy(w, upstream, reports);
    const group = new GroupRepository("all", [hostedOf(w, "private"), proxy], undefined);
    const manifest = await group.getManifest(NAME, tag("1"), GET);
    assert.equal(manifest.servedBy, "hub");
    const [layer] = image.layers;
    assert.ok(layer);
    const blob = await group.openBlob(NAME, layer.digest);
    assert.equal(blob.servedBy, "hub");
    assert.ok((await bytesOf(blob)).equals(layer.bytes));
    await downloadEnded(w, layer.digest);
    await group.getManifest(NAME, tag("1"), HEAD);
    assert.deepEqual(reports.lines, [
      `fetched hub manifest ${image.bytes.byteLength}`,
      `manifest hub ${NAME} ${short(image.digest)} 1 GET`,
      `blob hub ${NAME} ${short(layer.digest)}`,
      `fetched hub blob ${layer.bytes.byteLength}`,
      `manifest hub ${NAME} ${short(image.digest)} 1 HEAD`,
    ]);
  });

  test("a hosted repository reports what it serves, and fetches nothing", async (t) => {
    const w = await world(t);
    const reports = new Reports();
    const observed = new HostedRepository({
      name: "private",
      allowDelete: true,
      meta: w.meta,
      blobs: w.blobs,
      documents: w.documents,
      uploads: w.uploads,
      ingests: w.ingests,
      clock: w.clock,
      observer: reports,
    });
    const config = Buffer.from("{}");
    const upload = await observed.startUpload("app");
    await observed.finishUpload("app", upload.id, digestOf(config), Readable.from([config]), {});
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digestOf(config), size: 2 },
        layers: [],
      }),
    );
    const { digest } = await observed.putManifest("app", tag("v1"), manifestBytes, MediaType.ociManifest);
    await observed.getManifest("app", tag("v1"), GET);
    await bytesOf(await observed.openBlob("app", digestOf(config)));
    assert.deepEqual(reports.lines, [
      `manifest private app ${short(digest)} v1 GET`,
      `blob private app ${short(digestOf(config))}`,
    ]);
  });

  test("content that cannot be kept is reported (a full disk starts an eviction), and still served", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    const image = upstream.putImage(NAME, "1", ["layer"]);
    const reports = new Reports();
    const proxy = observedProxy(w, upstream, reports);
    const full = Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
    w.meta.putManifest = async () => {
      throw full;
    };
    const manifest = await proxy.getManifest(NAME, tag("1"), GET);
    assert.equal(manifest.digest, image.digest);
    assert.deepEqual(reports.failures, [full]);
  });

  test("a blob whose file was evicted since it was linked is fetched again, not refused", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    const blob = upstream.putBlob(NAME, Buffer.alloc(100_000, "x"));
    const proxy = proxyOf(w, upstream);
    await bytesOf(await proxy.openBlob(NAME, blob));
    await downloadEnded(w, blob);
    assert.equal(await w.meta.hasBlob("hub", NAME, blob), true);
    await w.blobs.delete(blob);
    const again = await proxy.openBlob(NAME, blob);
    assert.equal(again.cache, "miss");
    assert.ok((await bytesOf(again)).equals(Buffer.alloc(100_000, "x")));
    assert.equal(upstream.count("GET", `/blobs/${blob}`), 2);
  });

  test("a download links its blob while its digest is still held", async (t) => {
    const events: string[] = [];
    const inner = new LocalIngestGuard();
    const recording: IngestGuard = {
      get ingesting() {
        return inner.ingesting;
      },
      hold: async (digest): Promise<IngestLease> => {
        const lease = await inner.hold(digest);
        events.push(`hold ${short(digest)}`);
        return {
          release: () => {
            events.push(`release ${short(digest)}`);
            lease.release();
          },
        };
      },
      remove: (digest, work) => inner.remove(digest, work),
    };
    const w = await world(t);
    const upstream = new FakeUpstream();
    const blob = upstream.putBlob(NAME, Buffer.alloc(50_000, "y"));
    const linkBlob = w.meta.linkBlob.bind(w.meta);
    w.meta.linkBlob = async (repo, name, digest, size) => {
      events.push(`link ${short(digest)}`);
      return linkBlob(repo, name, digest, size);
    };
    const proxy = new ProxyRepository({
      name: "hub",
      upstream,
      libraryPrefix: false,
      tagTtlMs: 60_000,
      meta: w.meta,
      blobs: w.blobs,
      documents: w.documents,
      coalescer: new Coalescer(w.blobs, w.spool, { ingests: recording }),
      ingests: recording,
      logger: w.logger,
      clock: w.clock,
    });
    await bytesOf(await proxy.openBlob(NAME, blob));
    await downloadEnded(w, blob);
    const hold = events.indexOf(`hold ${short(blob)}`);
    const link = events.indexOf(`link ${short(blob)}`);
    const release = events.indexOf(`release ${short(blob)}`);
    assert.ok(hold >= 0 && hold < link && link < release, events.join(", "));
  });

  test("an eviction between a pull's manifest and its blobs: the pull fetches the blobs again, byte-exact", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    const image = upstream.putImage(NAME, "1", ["first layer", "second layer"]);
    const proxy = proxyOf(w, upstream);
    const pull = () => proxy.getManifest(NAME, tag("1"), GET);
    // The whole image is cached once.
    await pull();
    for (const layer of image.layers) {
      await bytesOf(await proxy.openBlob(NAME, layer.digest));
      await downloadEnded(w, layer.digest);
    }
    const keeper = new CacheKeeper({
      meta: w.meta,
      blobs: w.blobs,
      ingests: w.ingests,
      scope: {
        policy: { lowWater: 0.9, repositories: new Map([["hub", { maxSize: 1 }]]) },
        proxies: new Map([["hub", []]]),
      },
      dataDir: "/nowhere",
      checkIntervalMs: 60_000,
      freeSpace: async () => 1e12,
      clock: w.clock,
      logger: w.logger,
    });
    // A client reads the manifest (a hit), then the whole image is evicted before it asks for the layers.
    const manifest = await pull();
    assert.equal(manifest.cache, "hit");
    const run = await keeper.run();
    assert.equal(run.plan?.evictions.length, 1);
    for (const layer of image.layers) {
      assert.equal(await w.blobs.stat(layer.digest), undefined, "evicted");
      const content = await proxy.openBlob(NAME, layer.digest);
      assert.equal(content.cache, "miss");
      assert.ok((await bytesOf(content)).equals(layer.bytes));
      assert.equal(upstream.count("GET", `/blobs/${layer.digest}`), 2);
    }
  });
});
