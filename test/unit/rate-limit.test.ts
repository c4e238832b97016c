import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseRetryAfter } from "../../src/upstream/errors.js";
import { parseRateLimitHeaders, RateLimitState, type RateLimitHeaders } from "../../src/upstream/rate-limit.js";

type Headers = Record<string, string | string[] | undefined>;

const NOW = Date.parse("2024-06-01T12:00:00Z");
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

describe("RateLimitState", () => {
  test("observe records the budget and says when it changed", () => {
    const state = new RateLimitState();
    assert.deepEqual(state.snapshot(NOW), {});
    assert.equal(state.observe(HUB_HEADERS, NOW), true);
    assert.deepEqual(state.snapshot(NOW), {
      limit: 100,
      remaining: 76,
      windowSeconds: 21600,
      source: "203.0.113.7",
      observedAt: new Date(NOW).toISOString(),
    });
    assert.equal(state.observe(HUB_HEADERS, NOW + 1000), false);
    assert.equal(state.snapshot(NOW).observedAt, new Date(NOW + 1000).toISOString());
    assert.equal(state.observe({ ...HUB_HEADERS, "ratelimit-remaining": "75;w=21600" }, NOW + 2000), true);
    assert.equal(state.snapshot(NOW).remaining, 75);
  });

  test("responses without rate-limit headers change nothing", () => {
    const state = new RateLimitState();
    state.observe(HUB_HEADERS, NOW);
    const before = state.snapshot(NOW);
    assert.equal(state.observe({ "content-type": "application/json" }, NOW + 5000), false);
    assert.deepEqual(state.snapshot(NOW), before);
  });

  test("backOff holds requests for the given seconds, then lets them go", () => {
    const state = new RateLimitState();
    assert.equal(state.backoffRemaining(NOW), 0);
    state.backOff(60, "429 on GET /v2/x", NOW);
    assert.equal(state.backoffRemaining(NOW), 60);
    assert.equal(state.backoffRemaining(NOW + 59_500), 1);
    assert.equal(state.backoffRemaining(NOW + 60_000), 0);
    assert.deepEqual(state.snapshot(NOW + 1000), {
      backoffUntil: new Date(NOW + 60_000).toISOString(),
      backoffReason: "429 on GET /v2/x",
    });
    assert.deepEqual(state.snapshot(NOW + 60_000), {});
  });

  test("a shorter back-off never cuts a longer one short", () => {
    const state = new RateLimitState();
    state.backOff(60, "first", NOW);
    state.backOff(5, "second", NOW + 1000);
    assert.equal(state.backoffRemaining(NOW + 10_000), 50);
  });

  test("back-off and observed budget coexist in the snapshot", () => {
    const state = new RateLimitState();
    state.observe(HUB_HEADERS, NOW);
    state.backOff(10, "429", NOW);
    const snapshot = state.snapshot(NOW);
    assert.equal(snapshot.remaining, 76);
    assert.equal(snapshot.backoffReason, "429");
    assert.equal(state.snapshot(NOW + 10_000).remaining, 76);
  });

  test("an absurd Retry-After from an upstream does not make backOff throw", () => {
    // The client passes parseRetryAfter's result straight to backOff after a 429.
    const state = new RateLimitState();
    for (const header of ["99999999999", "9".repeat(30)]) {
      const seconds = parseRetryAfter(header, NOW);
      assert.ok(seconds !== undefined);
      assert.doesNotThrow(() => state.backOff(seconds, "429", NOW));
      assert.ok(state.backoffRemaining(NOW) > 0);
      assert.doesNotThrow(() => state.snapshot(NOW));
    }
  });
});
