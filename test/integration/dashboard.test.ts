// Issue 10, point 2: the dashboard in headless Chromium (Debian's, driven by playwright-core)
// against a real wharf (the auth fixture: proxies of real docker-registry upstreams, hosted
// repositories and a group, users and rules). A person's path through it: log in, the overview,
// a repository's images searched and sorted, an image's page and its pull command copied and run
// with skopeo, a tag deleted as admin and refused to a reader, a repository the reader's rules
// hide. Every page passes axe-core without serious or critical violations, and is photographed
// at laptop and phone sizes in light and dark.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import {
  axeViolations,
  launchChromium,
  openContext,
  type Scheme,
  screenshotDir,
  type Viewport,
} from "../harness/browser/chromium.js";
import { writeContainersFiles } from "../harness/clients/containers-conf.js";
import { skopeoCopy } from "../harness/clients/skopeo.js";
import { type AuthFixture, startAuthFixture } from "../harness/fixtures/auth.js";
import { derivedImage } from "../harness/images/layered.js";
import { pushImage } from "../harness/images/push.js";
import { getImage } from "../harness/images/test-images.js";
import { loopbackOnly } from "../harness/system/netguard.js";
import { runCommand } from "../harness/system/proc.js";
import { makeTempDir, removeTempDir } from "../harness/system/tmp.js";
import type { Credentials } from "../harness/types.js";

const SHOTS = screenshotDir("dashboard");

describe("the dashboard in Chromium", () => {
  let fx: AuthFixture;
  let browser: Browser;

  const small = getImage("small");
  /** Pushed to internal besides the fixture's team/app:v1: something to search and sort. */
  const pushed = [
    { image: derivedImage(small, "app-v2"), ref: "internal/team/app:v2" },
    { image: derivedImage(small, "web"), ref: "internal/team/web:1" },
    { image: derivedImage(derivedImage(small, "cli"), "cli-more"), ref: "internal/tools/cli:latest" },
  ];

  before(async () => {
    [fx, browser] = await Promise.all([startAuthFixture(), launchChromium()]);
    process.stdout.write(`# dashboard screenshots: ${SHOTS}\n`);
    const admin = { host: fx.wharf.host, creds: fx.users.admin };
    for (const { image, ref } of pushed) await pushImage(image, admin, ref);
    // The proxy caches what a client pulled: hub's lib/app, pulled once anonymously.
    const dir = makeTempDir("dashboard-pull");
    try {
      await skopeoCopy(`${fx.wharf.host}/hub/lib/app:v1`, dir);
    } finally {
      await removeTempDir(dir);
    }
  });
  after(async () => {
    await browser?.close();
    await fx?.close();
  });

  async function loggedIn(
    creds: Credentials,
    options: { viewport?: Viewport; scheme?: Scheme } = {},
  ): Promise<{ page: Page; problems: string[]; close: () => Promise<void> }> {
    const { context, page, problems } = await openContext(browser, { baseURL: fx.wharf.url, ...options });
    await page.goto("/");
    await page.getByLabel("User name").fill(creds.username);
    await page.getByLabel("Password").fill(creds.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
    return { page, problems, close: () => context.close() };
  }

  async function assertAccessible(page: Page, what: string): Promise<void> {
    const serious = (await axeViolations(page)).filter(
      (v) => v.impact === "serious" || v.impact === "critical",
    );
    assert.deepEqual(serious, [], `${what}: ${JSON.stringify(serious, null, 2)}`);
  }

  async function shoot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  }

  test("the login page refuses a wrong password, then logs the admin in", async () => {
    const { context, page, problems } = await openContext(browser, { baseURL: fx.wharf.url });
    try {
      await page.goto("/");
      await page.getByRole("heading", { name: "Log in to wharf" }).waitFor();
      await assertAccessible(page, "login");
      await shoot(page, "login-laptop-light");
      await page.getByLabel("User name").fill("admin");
      await page.getByLabel("Password").fill("not-the-password");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("alert").filter({ hasText: "Wrong user name or password" }).waitFor();
      await page.getByLabel("Password").fill(fx.users.admin.password);
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
      // The session cookie is out of the page's reach.
      assert.equal(
        await page.evaluate(
          () => (globalThis as unknown as { document: { cookie: string } }).document.cookie,
        ),
        "",
      );
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test("the overview: repositories, store, cache, charts and activity, in light and dark, laptop and phone", async () => {
    for (const viewport of ["laptop", "phone"] as const) {
      for (const scheme of ["light", "dark"] as const) {
        const { page, problems, close } = await loggedIn(fx.users.admin, { viewport, scheme });
        try {
          const table = page.getByRole("table", { name: "Repositories" });
          await table.getByRole("link", { name: "internal" }).waitFor();
          for (const name of ["hub", "vendor", "internal", "secret", "all"]) {
            await page.getByRole("link", { name, exact: true }).first().waitFor();
          }
          await page.locator("figure.chart canvas").first().waitFor();
          await assertAccessible(page, `overview ${viewport} ${scheme}`);
          await shoot(page, `overview-${viewport}-${scheme}`);
          assert.deepEqual(problems, [], `${viewport} ${scheme}`);
        } finally {
          await close();
        }
      }
    }
  });

  test("users and tokens: an admin adds a user and a token, each secret shown once", async () => {
    const { page, problems, close } = await loggedIn(fx.users.admin);
    try {
      await page.getByRole("link", { name: "Users and tokens" }).click();
      await page.getByRole("heading", { level: 1, name: "Users and tokens" }).waitFor();
      await page.getByLabel("New user").fill("gina");
      await page.getByRole("button", { name: "Add with a generated password" }).click();
      await page.getByRole("status").filter({ hasText: "gina's password" }).waitFor();
      await page.getByRole("cell", { name: "gina", exact: true }).waitFor();
      await page.getByLabel("For user").fill("gina");
      await page.getByLabel("Description").fill("robot");
      await page.getByRole("button", { name: "Create token" }).click();
      await page.getByRole("status").filter({ hasText: "The new token" }).waitFor();
      const secret = await page
        .getByRole("status")
        .filter({ hasText: "The new token" })
        .locator("code")
        .textContent();
      assert.match(secret ?? "", /^wharf_[0-9a-f]{16}_/);
      fx.secrets.add(secret ?? "");
      await assertAccessible(page, "accounts");
      await shoot(page, "accounts-laptop-light");
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test("a reader sees no Users and tokens link and only the repositories the rules let them pull", async () => {
    const { page, problems, close } = await loggedIn(fx.users.alice);
    try {
      await page.getByRole("link", { name: "internal", exact: true }).first().waitFor();
      assert.equal(await page.getByRole("link", { name: "Users and tokens" }).count(), 0);
      assert.equal(await page.getByRole("link", { name: "secret", exact: true }).count(), 0);
      assert.equal(await page.getByRole("link", { name: "vendor", exact: true }).count(), 0);
      await assertAccessible(page, "overview as a reader");
      await shoot(page, "overview-reader-laptop-light");
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });

  test("a repository's images: searched and sorted, on a laptop and a phone, light and dark", async () => {
    for (const viewport of ["laptop", "phone"] as const) {
      for (const scheme of ["light", "dark"] as const) {
        const { page, problems, close } = await loggedIn(fx.users.admin, { viewport, scheme });
        try {
          await page
            .getByRole("table", { name: "Repositories" })
            .getByRole("link", { name: "internal" })
            .click();
          await page.getByRole("heading", { level: 1, name: "internal" }).waitFor();
          const rows = page.locator("tbody tr");
          await page.getByRole("link", { name: "tools/cli" }).waitFor();
          assert.deepEqual(await rows.locator("td:first-child a").allTextContents(), [
            "team/app",
            "team/app",
            "team/web",
            "tools/cli",
          ]);
          await assertAccessible(page, `repository ${viewport} ${scheme}`);
          await shoot(page, `repository-${viewport}-${scheme}`);
          // Search narrows by name or tag, after a pause in typing.
          await page.getByLabel("Search names and tags").fill("web");
          await page.getByText("1 images matching “web”").waitFor();
          assert.deepEqual(await rows.locator("td:first-child a").allTextContents(), ["team/web"]);
          await page.getByLabel("Search names and tags").fill("v2");
          await page.getByText("1 images matching “v2”").waitFor();
          await page.getByLabel("Search names and tags").fill("");
          await page.getByRole("link", { name: "tools/cli" }).waitFor();
          // Sorting by size: the header says how, and the order is the sizes' order.
          await page.getByRole("button", { name: "Size" }).click();
          await page.locator('th[aria-sort="descending"]').getByText("Size").waitFor();
          await page.waitForFunction(() => {
            const doc = (globalThis as unknown as { document: { querySelector(s: string): unknown } })
              .document;
            return doc.querySelector('th[aria-sort="descending"]') !== null;
          });
          const answer = await page.evaluate(async () => {
            const response = await fetch("/api/v1/repositories/internal/images?sort=size&order=desc");
            return (await response.json()) as { images: Array<{ name: string; size: number }> };
          });
          const sizes = answer.images.map((image) => image.size);
          assert.deepEqual(
            sizes,
            [...sizes].sort((a, b) => b - a),
          );
          await page.waitForFunction((first) => {
            const doc = (
              globalThis as unknown as {
                document: { querySelector(s: string): { textContent: string } | null };
              }
            ).document;
            return doc.querySelector("tbody tr td:first-child a")?.textContent === first;
          }, answer.images[0]?.name);
          assert.deepEqual(problems, [], `${viewport} ${scheme}`);
        } finally {
          await close();
        }
      }
    }
  });

  test("an image's page: tags, platform, layers, sizes; its skopeo command copied with one click pulls it", async () => {
    const { page, problems, close } = await loggedIn(fx.users.alice);
    const work = makeTempDir("dashboard-skopeo");
    try {
      await page.getByRole("table", { name: "Repositories" }).getByRole("link", { name: "hub" }).click();
      await page.getByRole("link", { name: "lib/app" }).click();
      await page.getByRole("heading", { level: 1, name: "lib/app:v1" }).waitFor();
      await page.getByRole("heading", { level: 3, name: "linux/amd64" }).waitFor();
      await page.getByRole("cell", { name: "v1", exact: true }).waitFor();
      assert.ok((await page.locator("section table tbody tr").count()) >= 1, "layers are listed");
      await assertAccessible(page, "image");
      for (const viewport of ["laptop"] as const) await shoot(page, `image-${viewport}-light`);
      await page.getByRole("button", { name: "Copy the skopeo command" }).click();
      await page.getByRole("button", { name: "Copy the skopeo command" }).getByText("Copied").waitFor();
      const copied = await page.evaluate(() =>
        (
          globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }
        ).navigator.clipboard.readText(),
      );
      assert.equal(
        copied,
        `skopeo copy --src-tls-verify=false docker://${fx.wharf.host}/hub/lib/app:v1 oci:app:v1`,
      );
      // Run as copied, with the test's own policy and registries files (a fresh machine's defaults).
      const [command, ...args] = copied.split(" ");
      assert.equal(command, "skopeo");
      const files = writeContainersFiles(work);
      const guarded = loopbackOnly(work, "skopeo", [
        "--policy",
        files.policy,
        "--registries-conf",
        files.registriesConf,
        ...args,
      ]);
      await runCommand(guarded.command, guarded.args, { cwd: work, env: files.env, timeoutMs: 60_000 });
      const index = JSON.parse(fs.readFileSync(path.join(work, "app", "index.json"), "utf8")) as {
        manifests: Array<{ digest: string }>;
      };
      assert.equal(index.manifests[0]?.digest, small.digest);
      assert.deepEqual(problems, []);
    } finally {
      await close();
      await removeTempDir(work);
    }
  });

  test("an admin deletes a tag from the image page; a reader gets no delete button, and the API refuses her", async () => {
    const admin = await loggedIn(fx.users.admin);
    try {
      await admin.page.goto("/#/r/internal/i/team%2Fapp/v2");
      await admin.page.getByRole("heading", { level: 1, name: "team/app:v2" }).waitFor();
      admin.page.once("dialog", (dialog) => void dialog.accept());
      await admin.page.getByRole("button", { name: "Delete tag v2" }).click();
      await admin.page.getByRole("heading", { level: 1, name: "internal" }).waitFor();
      await admin.page.getByRole("link", { name: "tools/cli" }).waitFor();
      assert.deepEqual(await admin.page.locator("tbody tr td:first-child a").allTextContents(), [
        "team/app",
        "team/app",
        "team/web",
        "tools/cli",
      ]);
      const tags = await fetch(`${fx.wharf.url}/v2/internal/team/app/tags/list`, {
        headers: {
          authorization: `Basic ${Buffer.from(`admin:${fx.users.admin.password}`).toString("base64")}`,
        },
      });
      assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ["v1"]);
      assert.deepEqual(admin.problems, []);
    } finally {
      await admin.close();
    }
    const reader = await loggedIn(fx.users.alice);
    try {
      await reader.page.goto("/#/r/internal/i/team%2Fapp/v1");
      await reader.page.getByRole("heading", { level: 1, name: "team/app:v1" }).waitFor();
      await reader.page.getByRole("cell", { name: "v1", exact: true }).waitFor();
      assert.equal(await reader.page.getByRole("button", { name: /Delete/ }).count(), 0);
      await assertAccessible(reader.page, "image as a reader");
      // The page's own API call, with its session and CSRF token, as a crafted request would be.
      const status = await reader.page.evaluate(async () => {
        const session = (await (await fetch("/api/v1/session")).json()) as { csrfToken: string };
        const response = await fetch("/api/v1/repositories/internal/image?name=team%2Fapp&reference=v1", {
          method: "DELETE",
          headers: { "x-csrf-token": session.csrfToken },
        });
        return response.status;
      });
      assert.equal(status, 403);
    } finally {
      await reader.close();
    }
  });

  test("a repository the reader's rules hide is not there for her, even by its address", async () => {
    const { page, close } = await loggedIn(fx.users.alice);
    try {
      await page.goto("/#/r/secret");
      await page.getByRole("alert").filter({ hasText: "no repository secret" }).first().waitFor();
      await assertAccessible(page, "hidden repository");
    } finally {
      await close();
    }
  });

  test("keyboard alone: skip to the content, open a repository, sort, and open an image", async () => {
    const { page, problems, close } = await loggedIn(fx.users.admin);
    try {
      const focused = () =>
        page.evaluate(() => {
          const active = (
            globalThis as unknown as {
              document: { activeElement: { textContent: string; id: string } | null };
            }
          ).document.activeElement;
          return `${active?.id ?? ""}|${(active?.textContent ?? "").trim()}`;
        });
      await page.keyboard.press("Tab");
      assert.match(await focused(), /\|Skip to content$/);
      await page.keyboard.press("Enter");
      assert.match(await focused(), /^content\|/);
      // Tab through the page to the repositories table's link to internal, and follow it.
      for (let i = 0; i < 40 && !/\|internal$/.test(await focused()); i++) await page.keyboard.press("Tab");
      assert.match(await focused(), /\|internal$/);
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { level: 1, name: "internal" }).waitFor();
      await page.getByRole("link", { name: "tools/cli" }).waitFor();
      await page.getByRole("button", { name: "Size" }).focus();
      await page.keyboard.press("Enter");
      await page.locator('th[aria-sort="descending"]').getByText("Size").waitFor();
      await page.getByRole("link", { name: "tools/cli" }).focus();
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { level: 1, name: "tools/cli:latest" }).waitFor();
      assert.deepEqual(problems, []);
    } finally {
      await close();
    }
  });
});
