// Issue 10, point 2: "the overview of an instance with 10,000 images is interactive in under a
// second on this machine". A data directory is filled with 10,000 cached images (metadata and
// their small manifests and configs, through the stores' own interfaces, on a tmpfs so the seed
// costs no fsyncs), wharf starts on it, and Chromium opens the overview and the repository's
// images sorted by pulls. The times are reported, not asserted: this machine is shared.
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import type { Browser } from "playwright-core";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { openStores } from "../../src/store/open-stores.js";
import { launchChromium, openContext, screenshotDir } from "../harness/browser/chromium.js";
import { makeTempDir, removeTempDir } from "../harness/system/tmp.js";
import { mountTmpfs, type Tmpfs } from "../harness/system/tmpfs.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

const IMAGES = 10_000;
const REPO = "hub";
const ADMIN = { username: "admin", password: "scale-test-password" };
const CONFIG_TYPE = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";

/** 10,000 images under 500 names, a few tags each, sharing 4 configs (platforms) and 3 layers. */
async function seed(dataDir: string): Promise<void> {
  const stores = await openStores({ dataDir, limits: { maxBytes: 1024 ** 3 } }, pino({ level: "silent" }));
  try {
    const platforms = [
      ["linux", "amd64"],
      ["linux", "arm64"],
      ["linux", "arm"],
      ["windows", "amd64"],
    ];
    const configs = await Promise.all(
      platforms.map(async ([os, architecture]) => {
        const bytes = Buffer.from(
          JSON.stringify({ os, architecture, config: {}, rootfs: { type: "layers" } }),
        );
        const digest = digestOf(bytes);
        await stores.documents.write(digest, bytes);
        return { mediaType: CONFIG_TYPE, digest, size: bytes.byteLength };
      }),
    );
    const layers = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const bytes = Buffer.alloc(1024 * (i + 1), i);
        const digest = digestOf(bytes);
        await stores.documents.write(digest, bytes);
        return { mediaType: LAYER_TYPE, digest, size: bytes.byteLength * 1000 };
      }),
    );
    const now = Date.now();
    const manifests: Array<{ repo: string; name: string; digest: string; pulls: number; at: number }> = [];
    const tags: Array<{ repo: string; name: string; tag: string; pulls: number; at: number }> = [];
    for (let i = 0; i < IMAGES; i++) {
      const name = `team-${i % 50}/app-${Math.floor(i / 50) % 10}`;
      const config = configs[i % configs.length] as (typeof configs)[number];
      const used = layers.slice(0, 1 + (i % 3));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          config,
          layers: used,
          annotations: { "org.example.build": String(i) },
        }),
      );
      const digest = digestOf(manifest);
      await stores.documents.write(digest, manifest);
      for (const blob of [config, ...used]) await stores.meta.linkBlob(REPO, name, blob.digest, blob.size);
      await stores.meta.putManifest(REPO, name, {
        digest,
        mediaType: MediaType.ociManifest,
        size: manifest.byteLength,
        references: [config.digest, ...used.map((l) => l.digest)],
      });
      const tag = `v${Math.floor(i / 500)}.${i % 7}`;
      await stores.meta.setTag(REPO, name, tag, digest, now - i * 1000);
      // Most images pulled some time ago, a few often, some never.
      if (i % 5 !== 0) {
        const pulls = (i * 7919) % 97;
        const at = now - ((i * 104729) % (30 * 86_400_000));
        manifests.push({ repo: REPO, name, digest, pulls, at });
        tags.push({ repo: REPO, name, tag, pulls, at });
      }
    }
    await stores.meta.recordUsage({ manifests, tags, blobs: [] });
    // A day of traffic for the charts: busy working hours, a six-hour pull budget that refills.
    const minute = 60_000;
    const start = now - (now % minute) - 24 * 60 * minute;
    const samples = Array.from({ length: 24 * 60 }, (_, m) => {
      const at = start + m * minute;
      const busy = 0.5 + 0.5 * Math.sin(((m / 60 - 8) / 24) * 2 * Math.PI);
      const requests = Math.round(40 * busy + (m % 7));
      const misses = Math.round(requests * (0.04 + (0.03 * ((m * 13) % 5)) / 5));
      return {
        at,
        repo: REPO,
        hits: requests - misses,
        misses,
        bytesServed: (requests - misses) * 38_000_000 + misses * 24_000_000,
        bytesFetched: misses * 24_000_000,
        budgetRemaining: 200 - Math.round(((m % 360) / 360) * 150 * busy),
        budgetLimit: 200,
      };
    });
    await stores.meta.recordSamples(samples);
    await stores.meta.appendActivity([
      {
        at: now - 3_600_000,
        kind: "eviction",
        repo: REPO,
        name: "team-7/app-2",
        reference: "v3.1",
        bytes: 3_100_000_000,
        count: 1,
        detail: "unused",
      },
      {
        at: now - 1_800_000,
        kind: "first-pull",
        repo: REPO,
        name: "team-3/app-9",
        reference: "v19.4",
        count: 1,
      },
      { at: now - 600_000, kind: "login-refused", user: "ci-robot", count: 4, detail: "basic" },
      { at: now - 60_000, kind: "first-pull", repo: REPO, name: "team-1/app-4", reference: "v2.0", count: 1 },
    ]);
  } finally {
    await stores.close();
  }
}

describe(`the dashboard with ${IMAGES.toLocaleString("en")} images`, () => {
  let disk: Tmpfs;
  let dir: string;
  let wharf: Wharf;
  let browser: Browser;

  before(async () => {
    dir = makeTempDir("dashboard-scale");
    disk = await mountTmpfs(dir, "512m");
    const dataDir = path.join(dir, "data");
    const started = performance.now();
    await seed(dataDir);
    process.stdout.write(`# seeded ${IMAGES} images in ${Math.round(performance.now() - started)} ms\n`);
    [wharf, browser] = await Promise.all([
      startWharf({
        dataDir,
        secured: true,
        env: { WHARF_ADMIN_PASSWORD: ADMIN.password },
        // Nothing listens there: the dashboard never asks the upstream.
        configYaml: `repositories:\n  ${REPO}: { type: proxy, upstream: { url: "http://127.0.0.1:9" } }\n`,
      }),
      launchChromium(),
    ]);
  });
  after(async () => {
    await browser?.close();
    await wharf?.close();
    await disk?.unmount();
    if (dir) await removeTempDir(dir);
  });

  test("time until the overview and the repository's images are interactive (reported)", async (t) => {
    const { context, page } = await openContext(browser, { baseURL: wharf.url });
    try {
      await page.goto("/");
      await page.getByLabel("User name").fill(ADMIN.username);
      await page.getByLabel("Password").fill(ADMIN.password);
      const table = page.getByRole("table", { name: "Repositories" });
      const overview = async () => {
        await table.getByRole("cell", { name: "10,000" }).waitFor({ timeout: 60_000 });
        await page.locator("figure.chart canvas").first().waitFor();
      };
      // The first overview after wharf started (it read the images in the background at start).
      const coldStart = performance.now();
      await page.getByRole("button", { name: "Log in" }).click();
      await overview();
      const coldMs = performance.now() - coldStart;
      // A fresh page load of the overview, as a reload gives it: interactive once the
      // repositories, the store's figures and the charts are on the page.
      const overviewStart = performance.now();
      await page.reload();
      await overview();
      const overviewMs = performance.now() - overviewStart;
      const clickStart = performance.now();
      await table.getByRole("link", { name: REPO }).click();
      await page.getByRole("heading", { level: 1, name: REPO }).waitFor();
      await page.getByText("10,000 images", { exact: true }).waitFor({ timeout: 60_000 });
      await page.locator("tbody tr").first().waitFor();
      const repositoryMs = performance.now() - clickStart;
      const imagesStart = performance.now();
      const sorted = page.waitForResponse((response) => response.url().includes("sort=pulls"));
      await page.getByRole("button", { name: "Pulls" }).click();
      await sorted;
      await page.locator('th[aria-sort="descending"]').waitFor();
      await page.getByText("10,000 images", { exact: true }).waitFor({ timeout: 60_000 });
      const sortMs = performance.now() - imagesStart;
      const api = await page.evaluate(async () => {
        const time = async (url: string) => {
          const start = performance.now();
          const response = await fetch(url);
          await response.json();
          return Math.round(performance.now() - start);
        };
        return {
          repositories: await time("/api/v1/repositories"),
          images: await time("/api/v1/repositories/hub/images?sort=size&order=desc&limit=50"),
          search: await time("/api/v1/repositories/hub/images?q=app-3&limit=50"),
        };
      });
      await page.screenshot({ path: path.join(screenshotDir("dashboard-scale"), "images-by-pulls.png") });
      await page.goto("/");
      await overview();
      // docs/screenshots/overview.png is this picture.
      await page.screenshot({ path: path.join(screenshotDir("dashboard-scale"), "overview.png") });
      const report = `overview interactive (page load to repositories, store figures and charts drawn): ${Math.round(overviewMs)} ms (the first after the start, from the login click: ${Math.round(coldMs)} ms); its repository's first page after a click: ${Math.round(repositoryMs)} ms; re-sorted by pulls: ${Math.round(sortMs)} ms; API: repositories ${api.repositories} ms, a page sorted by size ${api.images} ms, a search ${api.search} ms`;
      t.diagnostic(report);
      process.stdout.write(`# ${report}\n`);
    } finally {
      await context.close();
    }
  });
});
