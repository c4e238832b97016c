import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatUptime, renderStatus } from "../../src/cli/status.js";
import { type InstanceStatus, parseMetrics, requestCounts } from "../../src/cli/status-report.js";
import { renderTable } from "../../src/cli/table.js";
import { formatBytes } from "../../src/util/format-bytes.js";

const NOW = Date.parse("2026-01-01T12:00:00Z");

/** What a wharf of today reports: no store sizes or cache totals yet. */
const TODAY: InstanceStatus = {
  url: "http://127.0.0.1:5000",
  reachable: true,
  errors: [],
  alive: true,
  ready: true,
  readiness: { ready: true, checks: { store: { ok: true }, shutdown: { ok: true } } },
  status: {
    version: "0.1.0",
    uptimeSeconds: 3725,
    defaultRepository: "all",
    repositories: [
      {
        name: "docker-hub",
        type: "proxy",
        upstream: {
          url: "https://registry-1.docker.io",
          rateLimit: {
            limit: 100,
            remaining: 76,
            backoffUntil: "2026-01-01T12:01:30Z",
            backoffReason: "429 on GET /v2/library/x/manifests/1",
          },
        },
      },
      { name: "internal", type: "hosted" },
      { name: "all", type: "group" },
    ],
  },
  requests: {
    "docker-hub": { hit: 870, miss: 130, revalidated: 12, none: 3 },
    all: { hit: 5 },
    "": { none: 40 },
  },
};

describe("wharf status, the table", () => {
  test("summary line, then one row per repository with requests, outcomes and upstream budget", () => {
    assert.equal(
      renderStatus(TODAY, NOW),
      [
        "wharf 0.1.0 at http://127.0.0.1:5000: ready, up 1h 2m",
        "",
        "REPOSITORY  TYPE    UPSTREAM                      REQUESTS  HIT  MISS  REVALIDATED  BUDGET  BACK-OFF",
        "docker-hub  proxy   https://registry-1.docker.io      1015  870   130           12  76/100  1m 30s left: 429 on GET /v2/library/x/manifests/1",
        "internal    hosted",
        "all         group                                        5    5",
        "",
      ].join("\n"),
    );
  });

  test("store size against its cap, hit ratio and bytes saved appear when the instance reports them", () => {
    const status = TODAY.status!;
    const later: InstanceStatus = {
      ...TODAY,
      status: {
        ...status,
        store: {
          bytes: 30 * 1024 ** 3,
          cap: 40 * 1024 ** 3,
          freeBytes: 100 * 1024 ** 3,
          floorBytes: 10 * 1024 ** 3,
        },
        cache: { hits: 900, misses: 100, bytesServed: 10 * 1024 ** 3, bytesFetched: 1024 ** 3 },
        repositories: [
          {
            ...status.repositories[0]!,
            upstream: { url: "https://registry-1.docker.io" },
            store: { bytes: 1024 ** 3, cap: 4 * 1024 ** 3 },
            cache: { hits: 3, misses: 1, bytesServed: 4096, bytesFetched: 1024 },
          },
        ],
      },
    };
    const text = renderStatus(later, NOW);
    assert.match(text, /^store: 30.0 GiB of 40.0 GiB \(75%\), 100 GiB free on disk \(floor 10.0 GiB\)$/m);
    assert.match(
      text,
      /^cache: hit ratio 90% \(900 hits, 100 misses\); 10.0 GiB served, 1.0 GiB fetched, 9.0 GiB saved$/m,
    );
    assert.match(
      text,
      /REPOSITORY +TYPE +UPSTREAM +REQUESTS +HIT +MISS +REVALIDATED +STORE +HIT RATIO +SAVED$/m,
    );
    assert.match(text, /docker-hub .* 1.0 GiB of 4.0 GiB \(25%\) +75% +3.0 KiB$/m);
  });

  test("not ready names the failed check; unreachable says why", () => {
    const notReady: InstanceStatus = {
      ...TODAY,
      ready: false,
      readiness: {
        ready: false,
        checks: { store: { ok: false, error: "ENOSPC: no space left" }, shutdown: { ok: true } },
      },
    };
    assert.match(
      renderStatus(notReady, NOW),
      /^wharf 0.1.0 at http:\/\/127.0.0.1:5000: NOT READY \(store: ENOSPC: no space left\), up 1h 2m$/m,
    );
    const gone: InstanceStatus = {
      url: "http://127.0.0.1:5000",
      reachable: false,
      errors: ["connect ECONNREFUSED 127.0.0.1:5000"],
      alive: false,
      ready: false,
    };
    assert.equal(
      renderStatus(gone),
      "wharf at http://127.0.0.1:5000: unreachable: connect ECONNREFUSED 127.0.0.1:5000\n",
    );
  });

  test("a back-off that has run out is not shown", () => {
    assert.doesNotMatch(renderStatus(TODAY, NOW + 120_000), /BACK-OFF|left/);
  });
});

describe("reading /metrics", () => {
  test("samples with labels, escapes and comments", () => {
    const text = [
      "# HELP wharf_http_requests_total Requests answered",
      "# TYPE wharf_http_requests_total counter",
      'wharf_http_requests_total{route="blob",method="GET",status="200",repo="docker-hub",cache="hit"} 5',
      'wharf_http_requests_total{route="manifest",method="GET",status="200",repo="docker-hub",cache="miss"} 2',
      'wharf_http_requests_total{route="blob",method="HEAD",status="200",repo="docker-hub",cache="hit"} 1',
      'wharf_http_requests_total{route="other",method="GET",status="200",repo="",cache=""} 7',
      'wharf_odd{label="a \\"quoted\\" \\\\ value"} 1.5',
      "wharf_inflight_downloads 0",
      "garbage line",
    ].join("\n");
    const samples = parseMetrics(text);
    assert.equal(samples.length, 6);
    assert.deepEqual(samples[4], { name: "wharf_odd", labels: { label: 'a "quoted" \\ value' }, value: 1.5 });
    assert.deepEqual(samples[5], { name: "wharf_inflight_downloads", labels: {}, value: 0 });
    assert.deepEqual(requestCounts(samples), { "docker-hub": { hit: 6, miss: 2 }, "": { none: 7 } });
  });
});

describe("formatting", () => {
  test("table columns are padded, numbers right-aligned, empty optional columns dropped", () => {
    const table = renderTable(
      [{ header: "NAME", always: true }, { header: "N", align: "right" }, { header: "EMPTY" }],
      [
        ["a", "1", ""],
        ["long-name", "100", ""],
      ],
    );
    assert.equal(table, "NAME         N\na            1\nlong-name  100");
  });

  test("uptime in its two largest units", () => {
    assert.equal(formatUptime(0), "0s");
    assert.equal(formatUptime(59), "59s");
    assert.equal(formatUptime(61), "1m 1s");
    assert.equal(formatUptime(3725), "1h 2m");
    assert.equal(formatUptime(2 * 86_400 + 5), "2d");
    assert.equal(formatUptime(86_400 + 3600), "1d 1h");
  });

  test("sizes in binary units", () => {
    assert.equal(formatBytes(0), "0 B");
    assert.equal(formatBytes(1023), "1023 B");
    assert.equal(formatBytes(1536), "1.5 KiB");
    assert.equal(formatBytes(3 * 1024 ** 2), "3.0 MiB");
    assert.equal(formatBytes(150 * 1024 ** 3), "150 GiB");
    assert.equal(formatBytes(-1), "?");
  });
});
