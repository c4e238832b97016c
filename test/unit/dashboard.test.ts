// The Grafana dashboard in deploy/grafana/ is built on what wharf exports: every PromQL query in it
// names only metrics the registry has, and it shows what the issue asks of it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Metrics } from "../../src/ops/metrics.js";
import { isRecord } from "../../src/util/is-record.js";

/** This file runs as dist/test/unit/dashboard.test.js; deploy/ is beside dist. */
const DASHBOARD = resolve(dirname(fileURLToPath(import.meta.url)), "../../../deploy/grafana/wharf.json");

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "offset",
  "bool",
  "and",
  "or",
  "unless",
  "inf",
  "nan",
]);

/** The metric names a PromQL expression selects: identifiers that are not functions, keywords or labels. */
function metricNames(expression: string): string[] {
  const text = expression
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\$\w+/g, " ")
    .replace(/\b\d+(?:\.\d+)?(?:ms|[smhdwy])?\b/g, " ");
  const names: string[] = [];
  for (const match of text.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = text.slice((match.index ?? 0) + match[0].length).trimStart();
    if (rest.startsWith("(") || KEYWORDS.has(match[0].toLowerCase())) continue;
    names.push(match[0]);
  }
  return names;
}

/** Every query of the dashboard: panel targets (rows' nested panels too) and variable queries. */
function queriesOf(dashboard: unknown): string[] {
  const queries: string[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item);
      return;
    }
    if (!isRecord(value)) return;
    if (typeof value.expr === "string") queries.push(value.expr);
    if (typeof value.definition === "string") queries.push(value.definition);
    for (const inner of Object.values(value)) visit(inner);
  };
  visit(dashboard);
  return queries;
}

/** What a Prometheus server can select from wharf's exposition: histograms add their series. */
async function exportedNames(): Promise<Set<string>> {
  const metrics = new Metrics({
    inflight: () => 0,
    waiters: () => 0,
    store: () => undefined,
    caps: { repositories: new Map() },
  });
  const names = new Set<string>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === "histogram")
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${metric.name}${suffix}`);
  }
  return names;
}

describe("the Grafana dashboard", () => {
  const dashboard: unknown = JSON.parse(readFileSync(DASHBOARD, "utf8"));
  const queries = queriesOf(dashboard);

  test("the PromQL reader finds metric names and only them", () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.95, sum by (le, repo) (rate(a_bucket{route="manifest",x=~"$v"}[$__rate_interval]))) / on (repo) b_total - c offset 5m',
      ),
      ["a_bucket", "b_total", "c"],
    );
    assert.deepEqual(metricNames("label_values(wharf_http_requests_total, instance)"), [
      "wharf_http_requests_total",
      "instance",
    ]);
  });

  test("every query names only metrics wharf exports", async () => {
    const exported = await exportedNames();
    assert.ok(queries.length >= 20, `only ${queries.length} queries found`);
    const unknown = new Set<string>();
    for (const query of queries) {
      // A variable query's second argument is a label.
      const selected = query.startsWith("label_values(")
        ? metricNames(query).slice(0, 1)
        : metricNames(query);
      assert.ok(selected.length > 0, `no metric in ${query}`);
      for (const name of selected) if (!exported.has(name)) unknown.add(name);
    }
    assert.deepEqual([...unknown], []);
  });

  test("it shows hit ratio, bytes saved, upstream budgets, the store against its cap, evictions, request rate and latency", () => {
    const used = new Set(queries.flatMap(metricNames));
    for (const name of [
      "wharf_cache_results_total",
      "wharf_served_bytes_total",
      "wharf_upstream_fetched_bytes_total",
      "wharf_upstream_ratelimit_remaining",
      "wharf_store_total_bytes",
      "wharf_store_cap_bytes",
      "wharf_evictions_total",
      "wharf_http_requests_total",
      "wharf_http_request_duration_seconds_bucket",
    ]) {
      assert.ok(used.has(name), `no panel uses ${name}`);
    }
  });
});
