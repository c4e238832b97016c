import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { LocalUpstreamState, type PullBudget } from "../../src/coordination/upstream-state.js";
import { type Challenge, parseChallenges } from "../../src/upstream/challenge.js";
import {
  failureKindOf,
  parseRetryAfter,
  UpstreamError,
  type UpstreamFailureKind,
} from "../../src/upstream/errors.js";
import { parseRateLimitHeaders, pullBudgetOf, type RateLimitHeaders } from "../../src/upstream/rate-limit.js";
import { ManualClock } from "../fakes/manual-clock.js";
import { checkProperty, LONG, withoutHanging } from "./helpers.js";

const DOCKER_HUB =
  'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"';

describe("parseChallenges", () => {
  const cases: ReadonlyArray<readonly [string, string | string[] | undefined, Challenge[]]> = [
    [
      "Docker Hub's challenge, exactly as sent",
      DOCKER_HUB,
      [
        {
          scheme: "bearer",
          params: {
            realm: "https://auth.docker.io/token",
            service: "registry.docker.io",
            scope: "repository:library/busybox:pull",
          },
        },
      ],
    ],
    ["Basic", 'Basic realm="Registry Realm"', [{ scheme: "basic", params: { realm: "Registry Realm" } }]],
    ["a scheme without parameters", "Basic", [{ scheme: "basic", params: {} }]],
    [
      "two challenges in one header",
      'Basic realm="basic realm", Bearer realm="https://auth.example/token",service="example"',
      [
        { scheme: "basic", params: { realm: "basic realm" } },
        { scheme: "bearer", params: { realm: "https://auth.example/token", service: "example" } },
      ],
    ],
    [
      "two challenges in two header lines",
      ['Bearer realm="https://a/token"', 'Basic realm="b"'],
      [
        { scheme: "bearer", params: { realm: "https://a/token" } },
        { scheme: "basic", params: { realm: "b" } },
      ],
    ],
    [
      "unquoted values",
      "Bearer realm=https://auth.example/token,service=registry.example",
      [{ scheme: "bearer", params: { realm: "https://auth.example/token", service: "registry.example" } }],
    ],
    [
      "unquoted values followed by another challenge",
      "Basic realm=x, Bearer realm=y",
      [
        { scheme: "basic", params: { realm: "x" } },
        { scheme: "bearer", params: { realm: "y" } },
      ],
    ],
    [
      "escaped quotes and backslashes",
      'Bearer realm="https://a/token",error_description="the \\"token\\" is in C:\\\\tmp"',
      [
        {
          scheme: "bearer",
          params: { realm: "https://a/token", error_description: 'the "token" is in C:\\tmp' },
        },
      ],
    ],
    [
      "a comma inside a quoted scope",
      'Bearer realm="r",scope="repository:a:pull,push"',
      [{ scheme: "bearer", params: { realm: "r", scope: "repository:a:pull,push" } }],
    ],
    [
      "case in scheme and parameter names",
      'BEARER Realm="R",SERVICE="S"',
      [{ scheme: "bearer", params: { realm: "R", service: "S" } }],
    ],
    [
      "whitespace around = and commas",
      'Bearer realm = "r" ,  service= "s"',
      [{ scheme: "bearer", params: { realm: "r", service: "s" } }],
    ],
    ["an empty quoted value", 'Bearer realm=""', [{ scheme: "bearer", params: { realm: "" } }]],
    ["no header", undefined, []],
    ["an empty header", "", []],
    ["no header lines", [], []],
    ["punctuation only", ";;;", []],
  ];
  for (const [why, header, expected] of cases) {
    test(why, () => assert.deepEqual(parseChallenges(header), expected));
  }

  const garbage = [
    '"unterminated',
    'Bearer realm="unterminated',
    "Bearer realm",
    "=,=,=",
    "Bearer ,,, ,",
    'Bearer realm="a" junk "b"',
    "\u0000\uffff",
    `Bearer ${"a=".repeat(LONG / 2)}`,
    `Bearer realm="${"\\".repeat(LONG + 1)}`,
    `Bearer realm=${"x".repeat(LONG)}`,
    `Bearer ${" ".repeat(LONG)}realm="x"`,
    `${"Bearer ".repeat(LONG / 7)}`,
  ];
  for (const header of garbage) {
    test(`garbage does not throw: ${JSON.stringify(header.slice(0, 30))}`, () => {
      const challenges = withoutHanging(() => parseChallenges(header));
      assert.ok(Array.isArray(challenges));
      for (const challenge of challenges) assert.match(challenge.scheme, /^[a-z][a-z0-9_-]*$/);
    });
  }

  test("never throws, and every scheme is a lower-case token", () => {
    const header = fc.oneof(
      fc.string({ unit: "binary" }),
      fc.string({ unit: fc.constantFrom("B", "a", "=", '"', "\\", ",", " ", "r") }),
    );
    checkProperty(
      fc.property(fc.oneof(header, fc.array(header, { maxLength: 3 })), (value) => {
        for (const challenge of parseChallenges(value)) {
          assert.match(challenge.scheme, /^[a-z][a-z0-9_-]*$/);
          for (const param of Object.values(challenge.params)) assert.equal(typeof param, "string");
        }
      }),
      1000,
    );
  });

  test("quoted values of any content round-trip", () => {
    const token = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
    const challenge = fc.record({
      scheme: token,
      params: fc.dictionary(token, fc.string({ unit: "binary" }), { maxKeys: 4 }),
    });
    const quote = (value: string) => `"${value.replace(/[\\"]/g, "\\$&")}"`;
    const render = (c: Challenge) =>
      [
        c.scheme,
        Object.entries(c.params)
          .map(([k, v]) => `${k}=${quote(v)}`)
          .join(","),
      ]
        .join(" ")
        .trim();
    checkProperty(
      fc.property(fc.array(challenge, { minLength: 1, maxLength: 3 }), (challenges) => {
        // fast-check builds null-prototype records; compare as plain objects.
        const expected = challenges.map((c) => ({ scheme: c.scheme, params: { ...c.params } }));
        assert.deepEqual(parseChallenges(challenges.map(render).join(", ")), expected);
      }),
    );
  });
});

const NOW = Date.parse("2024-06-01T12:00:00Z");

describe("failureKindOf", () => {
  const cases: ReadonlyArray<readonly [number, UpstreamFailureKind]> = [
    [404, "not-found"],
    [401, "unauthorized"],
    [403, "unauthorized"],
    [429, "rate-limited"],
    [500, "unavailable"],
    [502, "unavailable"],
    [503, "unavailable"],
    [504, "unavailable"],
    [400, "invalid"],
    [405, "invalid"],
    [409, "invalid"],
    [416, "invalid"],
  ];
  for (const [status, kind] of cases) {
    test(`${status} is ${kind}`, () => assert.equal(failureKindOf(status), kind));
  }
});

describe("UpstreamError", () => {
  const stale: ReadonlyArray<readonly [UpstreamFailureKind, boolean]> = [
    ["unavailable", true],
    ["rate-limited", true],
    ["unauthorized", true],
    ["not-found", false],
    ["invalid", false],
  ];
  for (const [kind, allowsStale] of stale) {
    test(`${kind} ${allowsStale ? "allows" : "does not allow"} stale content`, () => {
      const error = new UpstreamError(kind, "x", { upstream: "hub", status: 503, retryAfterSeconds: 5 });
      assert.equal(error.allowsStale, allowsStale);
      assert.equal(error.kind, kind);
      assert.equal(error.upstream, "hub");
      assert.equal(error.status, 503);
      assert.equal(error.retryAfterSeconds, 5);
      assert.equal(error.name, "UpstreamError");
    });
  }
});

describe("parseRetryAfter", () => {
  const cases: ReadonlyArray<readonly [string, string | string[] | undefined, number | undefined, number?]> =
    [
      ["seconds", "120", 120],
      ["zero", "0", 0],
      ["seconds with whitespace", " 7 ", 7],
      ["the first of several header lines", ["30", "60"], 30],
      ["an IMF-fixdate 90 s ahead", "Sat, 01 Jun 2024 12:01:30 GMT", 90],
      ["a date with a fraction of a second left, rounded up", "Sat, 01 Jun 2024 12:00:01 GMT", 1, NOW + 250],
      ["an RFC 850 date", "Saturday, 01-Jun-24 12:00:10 GMT", 10],
      ["an asctime date", "Sat Jun  1 12:00:20 2024", 20],
      ["a date in the past", "Sat, 01 Jun 2024 11:00:00 GMT", 0],
      ["no header", undefined, undefined],
      ["no header lines", [], undefined],
      ["an empty header", "", undefined],
      ["whitespace", "   ", undefined],
      ["a word", "soon", undefined],
      // Not seconds and not a date (RFC 9110 §10.2.3): the caller's default must apply.
      ["a fraction", "1.5", undefined],
      ["a negative number", "-1", undefined],
      ["a signed number", "+5", undefined],
      ["a number with a unit", "5s", undefined],
    ];
  for (const [why, value, expected, now = NOW] of cases) {
    test(`${why}: ${JSON.stringify(value)} → ${expected}`, () => {
      assert.equal(parseRetryAfter(value, now), expected);
    });
  }

  test("never throws; gives undefined or a non-negative whole number of seconds", () => {
    checkProperty(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^\d{1,25}$/), fc.date().map(String)), (value) => {
        const seconds = parseRetryAfter(value, NOW);
        if (seconds !== undefined) assert.ok(Number.isInteger(seconds) && seconds >= 0, String(seconds));
      }),
    );
  });
});

type Headers = Record<string, string | string[] | undefined>;

const HUB_HEADERS: Headers = {
  "ratelimit-limit": "100;w=21600",
  "ratelimit-remaining": "76;w=21600",
  "docker-ratelimit-source": "203.0.113.7",
};

describe("parseRateLimitHeaders", () => {
  const cases: ReadonlyArray<readonly [string, Headers, RateLimitHeaders | undefined]> = [
    ["Docker Hub's headers", HUB_HEADERS, { limit: 100, remaining: 76, windowSeconds: 21600 }],
    [
      "no window",
      { "ratelimit-limit": "100", "ratelimit-remaining": "3" },
      { limit: 100, remaining: 3, windowSeconds: undefined },
    ],
    [
      "a window only on remaining",
      { "ratelimit-limit": "100", "ratelimit-remaining": "3;w=60" },
      { limit: 100, remaining: 3, windowSeconds: 60 },
    ],
    [
      "spaces around the parameter",
      { "ratelimit-limit": " 100 ; w = 21600", "ratelimit-remaining": "0" },
      { limit: 100, remaining: 0, windowSeconds: 21600 },
    ],
    [
      "repeated header lines: the first counts",
      { "ratelimit-limit": ["100;w=21600", "200;w=60"], "ratelimit-remaining": ["5", "6"] },
      { limit: 100, remaining: 5, windowSeconds: 21600 },
    ],
    ["no headers", {}, undefined],
    ["only the limit", { "ratelimit-limit": "100;w=21600" }, undefined],
    ["only the remaining budget", { "ratelimit-remaining": "76;w=21600" }, undefined],
    ["garbage", { "ratelimit-limit": "lots", "ratelimit-remaining": "some" }, undefined],
  ];
  for (const [why, headers, expected] of cases) {
    test(why, () => assert.deepEqual(parseRateLimitHeaders(headers), expected));
  }
});

describe("pullBudgetOf", () => {
  test("the parsed budget and whom it is counted for", () => {
    assert.deepEqual(pullBudgetOf(HUB_HEADERS), {
      limit: 100,
      remaining: 76,
      windowSeconds: 21600,
      source: "203.0.113.7",
    });
  });

  test("responses without rate-limit headers report no budget", () => {
    assert.equal(pullBudgetOf({ "content-type": "application/json" }), undefined);
  });
});

describe("LocalUpstreamState", () => {
  const HUB_BUDGET = pullBudgetOf(HUB_HEADERS) as PullBudget;

  test("recordBudget records the budget and says when it changed", async () => {
    const clock = new ManualClock(NOW);
    const state = new LocalUpstreamState(clock);
    assert.deepEqual(await state.snapshot(), {});
    assert.equal(await state.recordBudget(HUB_BUDGET), true);
    assert.deepEqual(await state.snapshot(), {
      limit: 100,
      remaining: 76,
      windowSeconds: 21600,
      source: "203.0.113.7",
      observedAt: new Date(NOW).toISOString(),
    });
    clock.set(NOW + 1000);
    assert.equal(await state.recordBudget(HUB_BUDGET), false);
    assert.equal((await state.snapshot()).observedAt, new Date(NOW + 1000).toISOString());
    clock.set(NOW + 2000);
    assert.equal(await state.recordBudget({ ...HUB_BUDGET, remaining: 75 }), true);
    assert.equal((await state.snapshot()).remaining, 75);
  });

  test("backOff holds requests for the given seconds, then lets them go", async () => {
    const clock = new ManualClock(NOW);
    const state = new LocalUpstreamState(clock);
    assert.equal(await state.backoffRemaining(), 0);
    assert.equal(await state.backOff(60, "429 on GET /v2/x"), true, "none was running");
    assert.equal(await state.backoffRemaining(), 60);
    clock.set(NOW + 59_500);
    assert.equal(await state.backoffRemaining(), 1);
    clock.set(NOW + 60_000);
    assert.equal(await state.backoffRemaining(), 0);
    clock.set(NOW + 1000);
    assert.deepEqual(await state.snapshot(), {
      backoffUntil: new Date(NOW + 60_000).toISOString(),
      backoffReason: "429 on GET /v2/x",
    });
    clock.set(NOW + 60_000);
    assert.deepEqual(await state.snapshot(), {});
  });

  test("a shorter back-off never cuts a longer one short, and says one was running", async () => {
    const clock = new ManualClock(NOW);
    const state = new LocalUpstreamState(clock);
    await state.backOff(60, "first");
    clock.set(NOW + 1000);
    assert.equal(await state.backOff(5, "second"), false);
    clock.set(NOW + 10_000);
    assert.equal(await state.backoffRemaining(), 50);
  });

  test("back-off and recorded budget coexist in the snapshot", async () => {
    const clock = new ManualClock(NOW);
    const state = new LocalUpstreamState(clock);
    await state.recordBudget(HUB_BUDGET);
    await state.backOff(10, "429");
    const snapshot = await state.snapshot();
    assert.equal(snapshot.remaining, 76);
    assert.equal(snapshot.backoffReason, "429");
    clock.set(NOW + 10_000);
    assert.equal((await state.snapshot()).remaining, 76);
  });

  test("an absurd Retry-After from an upstream does not make backOff throw", async () => {
    // The client passes parseRetryAfter's result straight to backOff after a 429.
    const state = new LocalUpstreamState(new ManualClock(NOW));
    for (const header of ["99999999999", "9".repeat(30)]) {
      const seconds = parseRetryAfter(header, NOW);
      assert.ok(seconds !== undefined);
      await state.backOff(seconds, "429");
      assert.ok((await state.backoffRemaining()) > 0);
      await state.snapshot();
    }
  });
});
