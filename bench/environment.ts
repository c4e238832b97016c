import os from "node:os";
import { fileURLToPath } from "node:url";
import { runCommand } from "../test/harness/system/proc.js";
import { WHARF_MAIN } from "../test/harness/wharf/start.js";
import { measureFirstTouch } from "./memory.js";
import type { Environment } from "./results.js";

/** This file is dist/bench/environment.js: the checkout is two levels up. */
const CHECKOUT = fileURLToPath(new URL("../..", import.meta.url));

/** A tool's version line, or why there is none (a missing tool must not stop the report). */
async function versionOf(command: string, args: string[], pattern: RegExp): Promise<string> {
  try {
    const { stdout, stderr } = await runCommand(command, args, { timeoutMs: 10_000 });
    const text = `${stdout}\n${stderr}`;
    return pattern.exec(text)?.[1] ?? text.trim().split("\n")[0] ?? "?";
  } catch (error) {
    return `unavailable (${error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error)})`;
  }
}

/** wharf's own version plus the commit, and whether src/ differs from it: the figures are of this code. */
async function wharfVersion(): Promise<string> {
  const version = await versionOf(process.execPath, [WHARF_MAIN, "--version"], /^(\S+)/);
  try {
    const { stdout: head } = await runCommand("git", ["-C", CHECKOUT, "rev-parse", "--short", "HEAD"]);
    const { stdout: dirty } = await runCommand("git", ["-C", CHECKOUT, "status", "--porcelain", "src"]);
    return `${version} (git ${head.trim()}${dirty.trim() ? ", src/ modified" : ""})`;
  } catch {
    return version;
  }
}

export function loadAverage(): number {
  return Math.round((os.loadavg()[0] ?? Number.NaN) * 100) / 100;
}

export async function describeEnvironment(): Promise<Environment> {
  const cpus = os.cpus();
  const [dockerRegistry, skopeo, nginx, wharf] = await Promise.all([
    versionOf("docker-registry", ["--version"], /(\d+\.\d+\.\d+\S*)/),
    versionOf("skopeo", ["--version"], /version (\S+)/),
    versionOf("nginx", ["-v"], /nginx\/(\S+)/),
    wharfVersion(),
  ]);
  // Alone, before any server starts: it writes and times page cache.
  const firstTouch = await measureFirstTouch();
  return {
    date: new Date().toISOString(),
    machine: {
      cores: cpus.length,
      cpuModel: cpus[0]?.model ?? "?",
      memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      kernel: `${os.type()} ${os.release()}`,
      loadAverage: { start: loadAverage(), end: Number.NaN },
      firstTouch,
    },
    versions: { node: process.version, dockerRegistry, skopeo, nginx, wharf },
  };
}
