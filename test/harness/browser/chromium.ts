import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's chromium (scripts/install-test-deps.sh installs it): Playwright downloads no browser here. */
export const CHROMIUM = process.env.WHARF_TEST_CHROMIUM ?? "/usr/bin/chromium";

/**
 * As root on a machine without a network: no sandbox (root), no GPU, and nothing Chromium would
 * fetch on its own (updates, sync, QUIC probes), which would only be refused.
 */
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run scripts/install-test-deps.sh`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

export const VIEWPORTS = {
  laptop: { width: 1366, height: 820 },
  phone: { width: 390, height: 844 },
} as const;

export type Viewport = keyof typeof VIEWPORTS;
export type Scheme = "light" | "dark";

/** A fresh context (no cookies) at a size and colour scheme, failing the test on any page error. */
export async function openContext(
  browser: Browser,
  options: { viewport?: Viewport; scheme?: Scheme; baseURL: string },
): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({
    viewport: VIEWPORTS[options.viewport ?? "laptop"],
    colorScheme: options.scheme ?? "light",
    baseURL: options.baseURL,
    ...(options.viewport === "phone" ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}),
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: options.baseURL });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    // A refused request is the test's business (it asserts the status); CSP or script errors are not.
    if (message.type() === "error" && !/Failed to load resource/.test(message.text())) {
      problems.push(`console: ${message.text()}`);
    }
  });
  return { context, page, problems };
}

/** axe-core's source, run in the page by the DevTools protocol (the page's CSP forbids inline scripts). */
const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly nodes: readonly string[];
}

/** axe-core's violations on the page as it stands (WCAG 2.1 A and AA rules and best practices). */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    // Runs in the page: its globals, which this file's (Node) types do not know.
    const page = globalThis as unknown as {
      axe: { run: (context: unknown, options: unknown) => Promise<unknown> };
      document: unknown;
    };
    const result = (await page.axe.run(page.document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    })) as {
      violations: Array<{
        id: string;
        impact: string | null;
        help: string;
        nodes: Array<{ target: unknown[] }>;
      }>;
    };
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => JSON.stringify(n.target)),
    }));
  });
}

/** Where the dashboard tests write their screenshots: dist/test-screenshots/<test>, beside the build. */
export function screenshotDir(test: string): string {
  const root = fileURLToPath(new URL("../../../test-screenshots/", import.meta.url));
  const dir = path.join(process.env.WHARF_TEST_SCREENSHOTS ?? root, test);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
