import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import pino from "pino";
import { request } from "undici";
import YAML from "yaml";
import { digestOf } from "../../src/oci/digest.js";
import { parseManifest } from "../../src/oci/manifest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { manifestRecordOf } from "../../src/repos/content.js";
import { openStores } from "../../src/store/open-stores.js";
import { ACCEPT_MANIFESTS } from "../../test/harness/http/requests.js";
import { makeTempDir, removeTempDir } from "../../test/harness/system/tmp.js";
import { runWharfCli } from "../../test/harness/wharf/cli.js";
import { startWharf } from "../../test/harness/wharf/start.js";
import type { BenchContext } from "../context.js";
import type { ScaledRequest, ScalePoint, ScaleResult } from "../results.js";
import { ratio, round3 } from "../stats.js";
import { wrk } from "../wrk.js";

/** Blobs in the metadata at each point (manifests a tenth of that); 0 is the empty store. */
export const SCALES = [0, 10_000, 100_000, 1_000_000];
const BLOBS_PER_NAME = 1_000;
const REFS_PER_MANIFEST = 10;
/** Names every point holds, so a catalog page is full even on the empty store. */
const FIXED_NAMES = 150;
const TAGS_OF_APP = 100;
const WRK = { threads: 2, connections: 32 };
const PROXY = "hub";
const HOSTED = "local";

/** A digest nobody computed: unique per kind and number, well-formed. */
const fakeDigest = (kind: number, n: number) => `sha256:${(kind * 1e12 + n).toString(16).padStart(64, "0")}`;

/**
 * Rows straight into wharf.db (the bench's only way to a million blobs in seconds), as a proxy
 * that cached them would have written them: links, manifests with what they reference, a tag
 * each. The triggers that keep the content's size run for every row, as they would.
 */
function generate(dbPath: string, blobs: number, now: number): { names: number; manifests: number } {
  const db = new Database(dbPath);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = OFF");
    const link = db.prepare(
      "INSERT INTO blobs (repo, name, digest, size, created_at) VALUES (?, ?, ?, ?, ?)",
    );
    const manifest = db.prepare(
      "INSERT INTO manifests (repo, name, digest, media_type, size, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    const ref = db.prepare("INSERT INTO manifest_refs (repo, name, digest, child) VALUES (?, ?, ?, ?)");
    const tag = db.prepare(
      "INSERT INTO tags (repo, name, tag, digest, updated_at, validated_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    const names = Math.ceil(blobs / BLOBS_PER_NAME);
    let manifests = 0;
    const batch = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const name = `bulk/n${String(Math.floor(i / BLOBS_PER_NAME)).padStart(5, "0")}`;
        link.run(PROXY, name, fakeDigest(1, i), 1_000 + (i % 5_000), now - i);
        if (i % REFS_PER_MANIFEST === REFS_PER_MANIFEST - 1) {
          const digest = fakeDigest(2, manifests);
          manifest.run(PROXY, name, digest, MediaType.ociManifest, 1_200, now - i);
          for (let r = i - REFS_PER_MANIFEST + 1; r <= i; r++) ref.run(PROXY, name, digest, fakeDigest(1, r));
          tag.run(PROXY, name, `v${manifests}`, digest, now - i, now);
          manifests++;
        }
      }
    });
    for (let from = 0; from < blobs; from += 50_000) batch(from, Math.min(blobs, from + 50_000));
    // Written into the database file now: left in the WAL, the server's first write would copy
    // hundreds of MB back at once, in its event loop, which a store that grew with use never does.
    db.pragma("wal_checkpoint(TRUNCATE)");
    return { names, manifests };
  } finally {
    db.close();
  }
}

/** What every point holds besides the bulk: a real image to GET by tag, full catalog and tag pages. */
async function fixedContent(dataDir: string, now: number): Promise<string> {
  const silent = pino({ level: "silent" });
  const stores = await openStores({ dataDir, limits: { maxBytes: 1024 ** 3 } }, silent);
  try {
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: {
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest: digestOf(config),
          size: config.byteLength,
        },
        layers: [
          { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: fakeDigest(3, 0), size: 1234 },
        ],
      }),
    );
    const digest = digestOf(bytes);
    const record = manifestRecordOf(digest, bytes.byteLength, parseManifest(bytes, MediaType.ociManifest));
    await stores.documents.write(digest, bytes);
    await stores.meta.putManifest(PROXY, "bench/app", record);
    await stores.meta.setTag(PROXY, "bench/app", "latest", digest, now);
    await stores.meta.putManifest(HOSTED, "bench/app", record);
    for (let t = 0; t < TAGS_OF_APP; t++) await stores.meta.setTag(HOSTED, "bench/app", `t${t}`, digest, now);
    for (let n = 0; n < FIXED_NAMES; n++)
      await stores.meta.putManifest(PROXY, `a-fixed/n${String(n).padStart(3, "0")}`, record);
    return digest;
  } finally {
    await stores.meta.close();
  }
}

function serverConfig(): string {
  return YAML.stringify({
    auth: { enabled: false },
    default_repository: PROXY,
    repositories: {
      // nothing listens there: every answer below comes from wharf's own metadata
      [PROXY]: { type: "proxy", tag_ttl: "1d", upstream: { url: "http://127.0.0.1:9" } },
      [HOSTED]: { type: "hosted" },
    },
  });
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return round3((performance.now() - started) / 1000);
}

async function point(ctx: BenchContext, blobs: number, seconds: number): Promise<ScalePoint> {
  const dir = makeTempDir("bench-scale");
  const dataDir = path.join(dir, "data");
  try {
    const now = Date.now();
    await fixedContent(dataDir, now);
    const started = performance.now();
    const { names, manifests } = generate(path.join(dataDir, "wharf.db"), blobs, now);
    const generateSeconds = round3((performance.now() - started) / 1000);
    const configPath = path.join(dir, "wharf.yml");
    fs.writeFileSync(configPath, serverConfig());
    const before = performance.now();
    const wharf = await startWharf({ configYaml: serverConfig(), dataDir });
    const startSeconds = round3((performance.now() - before) / 1000);
    let measured: Omit<ScalePoint, "gcSeconds" | "evictionPlanSeconds">;
    try {
      const headers = { accept: ACCEPT_MANIFESTS };
      const byTag = `${wharf.url}/v2/bench/app/manifests/latest`;
      const firstStarted = performance.now();
      const first = await request(byTag, { headers });
      await first.body.dump();
      const firstGetMs = round3(performance.now() - firstStarted);
      if (first.statusCode !== 200) throw new Error(`manifest by tag: ${first.statusCode}`);
      // Requests are served while it runs, but the steady state is what is compared across
      // scales: the start's background read of every image for the dashboard.
      const catalogRead = await wharf.waitLog(
        (line) => line.msg === "images read for the dashboard",
        600_000,
      );
      const catalogReadSeconds = round3(Number(catalogRead.ms) / 1000);
      // A second of the same load first: each kind of request is measured once it is compiled,
      // at every point alike (the first point would otherwise pay for it alone).
      const load = async (url: string) => {
        await wrk(url, headers, { ...WRK, seconds: 1 });
        return wrk(url, headers, { ...WRK, seconds });
      };
      const manifestByTag = await load(byTag);
      const tagsPage = await load(`${wharf.url}/v2/${HOSTED}/bench/app/tags/list?n=50`);
      const catalogPage = await load(`${wharf.url}/v2/_catalog?n=100`);
      measured = {
        blobs,
        manifests,
        tags: manifests,
        names,
        generateSeconds,
        startSeconds,
        firstGetMs,
        catalogReadSeconds,
        manifestByTag,
        tagsPage,
        catalogPage,
      };
    } finally {
      await wharf.stop();
    }
    const config = ["--config", configPath, "--data", dataDir];
    const gcSeconds = await timed(async () => {
      const gc = await runWharfCli(["gc", "--dry-run", ...config], { timeoutMs: 600_000 });
      if (gc.code !== 0) throw new Error(`gc: ${gc.stderr}`);
    });
    // A cap of one byte: the plan evicts every cached image, reading and weighing all of them.
    const capped = path.join(dir, "prune.yml");
    fs.writeFileSync(capped, YAML.stringify({ ...YAML.parse(serverConfig()), cache: { max_size: 1 } }));
    const evictionPlanSeconds = await timed(async () => {
      const prune = await runWharfCli(["prune", "--dry-run", "--config", capped, "--data", dataDir], {
        timeoutMs: 600_000,
      });
      if (prune.code !== 0) throw new Error(`prune: ${prune.stderr}`);
    });
    const result = { ...measured, gcSeconds, evictionPlanSeconds };
    ctx.log(
      `scale ${blobs} blobs / ${manifests} manifests: generated in ${generateSeconds} s, started in ${startSeconds} s, ` +
        `first GET ${result.firstGetMs} ms; by tag ${result.manifestByTag.requestsPerSecond} req/s ` +
        `(p99 ${result.manifestByTag.p99Ms} ms), tags page ${result.tagsPage.requestsPerSecond}, ` +
        `catalog page ${result.catalogPage.requestsPerSecond}; gc --dry-run ${gcSeconds} s, prune --dry-run ${evictionPlanSeconds} s`,
    );
    return result;
  } finally {
    await removeTempDir(dir);
  }
}

/**
 * Costs that stay flat: wharf started on metadata of 0, 10k, 100k and 1M blobs (a tenth as many
 * manifests, each tagged) generated straight into its database, then a manifest GET by tag, a
 * tags-list page and a catalog page under wrk, start-up, the first GET after it, and `gc` and
 * `prune` planning over all of it (both --dry-run: the decisions, not the file deletions).
 */
export async function runScale(ctx: BenchContext, seconds: number, largest: number): Promise<ScaleResult> {
  const points: ScalePoint[] = [];
  for (const blobs of SCALES.filter((n) => n <= largest)) points.push(await point(ctx, blobs, seconds));
  const slowdown = (kind: ScaledRequest): number | null =>
    points.length > 1
      ? ratio(points[0]?.[kind].requestsPerSecond ?? null, points.at(-1)?.[kind].requestsPerSecond ?? null)
      : null;
  return {
    points,
    slowdowns: {
      manifestByTag: slowdown("manifestByTag"),
      tagsPage: slowdown("tagsPage"),
      catalogPage: slowdown("catalogPage"),
    },
  };
}
