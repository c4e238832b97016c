import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { failureKindOf, parseRetryAfter, UpstreamError, type UpstreamFailureKind } from "../../src/upstream/errors.js";
import { checkProperty } from "./helpers.js";

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
  const cases: ReadonlyArray<readonly [string, string | string[] | undefined, number | undefined, number?]> = [
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
