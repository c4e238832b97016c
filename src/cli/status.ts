import type { Command } from "commander";
import { formatBytes } from "../util/format-bytes.js";
import { type InstanceOptions, instanceUrl } from "./instance.js";
import { withConfigOptions } from "./options.js";
import {
  type CacheTotals,
  fetchInstanceStatus,
  type InstanceStatus,
  type RequestCounts,
  type StoreUsage,
} from "./status-report.js";
import { type Column, renderTable } from "./table.js";

interface StatusOptions extends InstanceOptions {
  json?: boolean;
}

/** `3725` → `1h 2m`: the largest unit and the one below it tell a restart from a long run. */
export function formatUptime(seconds: number): string {
  const units: Array<[string, number]> = [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ];
  const whole = Math.max(0, Math.floor(seconds));
  const first = units.findIndex(([, size]) => whole >= size);
  if (first < 0) return "0s";
  const [unit, size] = units[first] as [string, number];
  const next = units[first + 1];
  const rest = next ? Math.floor((whole % size) / next[1]) : 0;
  return `${Math.floor(whole / size)}${unit}${next && rest > 0 ? ` ${rest}${next[0]}` : ""}`;
}

function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((part / whole) * 100)}%` : "-";
}

function storeText(store: StoreUsage): string {
  return store.cap === undefined
    ? formatBytes(store.bytes)
    : `${formatBytes(store.bytes)} of ${formatBytes(store.cap)} (${percent(store.bytes, store.cap)})`;
}

function hitRatio(cache: CacheTotals): string {
  return percent(cache.hits, cache.hits + cache.misses);
}

function saved(cache: CacheTotals): string {
  return formatBytes(Math.max(0, cache.bytesServed - cache.bytesFetched));
}

function count(counts: RequestCounts | undefined, outcome: string): string {
  const value = counts?.[outcome];
  return value === undefined ? "" : String(value);
}

function total(counts: RequestCounts | undefined): string {
  return counts === undefined ? "" : String(Object.values(counts).reduce((sum, n) => sum + n, 0));
}

const COLUMNS: readonly Column[] = [
  { header: "REPOSITORY", always: true },
  { header: "TYPE", always: true },
  { header: "UPSTREAM" },
  { header: "REQUESTS", align: "right" },
  { header: "HIT", align: "right" },
  { header: "MISS", align: "right" },
  { header: "REVALIDATED", align: "right" },
  { header: "STALE", align: "right" },
  { header: "STORE" },
  { header: "HIT RATIO", align: "right" },
  { header: "SAVED", align: "right" },
  { header: "BUDGET", align: "right" },
  { header: "BACK-OFF" },
];

/** The human form of `wharf status`: a summary, then one row per repository. */
export function renderStatus(report: InstanceStatus, now = Date.now()): string {
  if (!report.reachable) return `wharf at ${report.url}: unreachable: ${report.errors.join("; ")}\n`;
  const lines: string[] = [];
  const status = report.status;
  const failed = Object.entries(report.readiness?.checks ?? {})
    .filter(([, check]) => !check.ok)
    .map(([name, check]) => `${name}: ${check.error ?? "failed"}`);
  const state = report.ready ? "ready" : `NOT READY${failed.length > 0 ? ` (${failed.join("; ")})` : ""}`;
  const version = status ? `wharf ${status.version}` : "wharf";
  const uptime = status ? `, up ${formatUptime(status.uptimeSeconds)}` : "";
  lines.push(`${version} at ${report.url}: ${report.alive ? state : "not alive"}${uptime}`);
  if (status?.store) {
    const free =
      status.store.freeBytes === undefined ? "" : `, ${formatBytes(status.store.freeBytes)} free on disk`;
    const floor =
      status.store.floorBytes === undefined ? "" : ` (floor ${formatBytes(status.store.floorBytes)})`;
    lines.push(`store: ${storeText(status.store)}${free}${floor}`);
  }
  if (status?.cache) {
    const cache = status.cache;
    lines.push(
      `cache: hit ratio ${hitRatio(cache)} (${cache.hits} hits, ${cache.misses} misses); ` +
        `${formatBytes(cache.bytesServed)} served, ${formatBytes(cache.bytesFetched)} fetched, ${saved(cache)} saved`,
    );
  }
  if (status) {
    const rows = status.repositories.map((repository) => {
      const counts = report.requests?.[repository.name];
      const limits = repository.upstream?.rateLimit;
      const budget =
        limits?.remaining === undefined
          ? ""
          : `${limits.remaining}${limits.limit === undefined ? "" : `/${limits.limit}`}`;
      const until = limits?.backoffUntil ? Date.parse(limits.backoffUntil) : Number.NaN;
      const backoff =
        until > now
          ? `${formatUptime((until - now) / 1000)} left${limits?.backoffReason ? `: ${limits.backoffReason}` : ""}`
          : "";
      return [
        repository.name,
        repository.type,
        repository.upstream?.url ?? "",
        total(counts),
        count(counts, "hit"),
        count(counts, "miss"),
        count(counts, "revalidated"),
        count(counts, "stale"),
        repository.store ? storeText(repository.store) : "",
        repository.cache ? hitRatio(repository.cache) : "",
        repository.cache ? saved(repository.cache) : "",
        budget,
        backoff,
      ];
    });
    lines.push("", renderTable(COLUMNS, rows));
  }
  for (const error of report.errors) lines.push(`warning: ${error}`);
  return `${lines.join("\n")}\n`;
}

export function registerStatus(program: Command): void {
  withConfigOptions(
    program
      .command("status")
      .description("how a running wharf is: health, readiness, repositories, upstream budgets, requests")
      .option("--url <url>", "the running wharf (default: the configuration's listen address)")
      .option("--json", "print the machine-readable form"),
  ).action(async (options: StatusOptions) => {
    const report = await fetchInstanceStatus(await instanceUrl(options));
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : renderStatus(report));
    // A cron job or a health script reads the exit status: healthy means reachable and ready.
    process.exitCode = report.reachable && report.alive && report.ready ? 0 : 1;
  });
}
