import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseDuration } from "../../src/config/duration.js";
import { checkProperty } from "./helpers.js";

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

describe("parseDuration", () => {
  const valid: ReadonlyArray<readonly [string | number, number]> = [
    ["90s", 90_000],
    ["5m", 300_000],
    ["1h30m", 5_400_000],
    ["250ms", 250],
    ["1d", 86_400_000],
    ["1.5h", 5_400_000],
    ["1m1s", 61_000],
    ["2h0m", 7_200_000],
    ["1s500ms", 1500],
    [" 5m ", 300_000],
    ["0", 0],
    ["30", 30_000],
    ["0.5", 500],
    [0, 0],
    [30, 30_000],
    [0.25, 250],
  ];
  for (const [value, expected] of valid) {
    test(`${JSON.stringify(value)} is ${expected} ms`, () => assert.equal(parseDuration(value), expected));
  }

  const invalid: ReadonlyArray<string | number> = [
    "",
    "   ",
    "abc",
    "s",
    "m5",
    "5x",
    "5M",
    "5 m",
    "1h 30m",
    "-5s",
    "-5",
    "1.5.5s",
    ".5s",
    "5s!",
    -1,
    Number.NaN,
    Number.POSITIVE_INFINITY,
  ];
  for (const value of invalid) {
    test(`${JSON.stringify(value) ?? String(value)} is not a duration`, () => {
      assert.equal(parseDuration(value), undefined);
    });
  }

  test("sums any sequence of number-unit parts", () => {
    const part = fc.tuple(fc.nat({ max: 1000 }), fc.constantFrom(...(Object.keys(UNIT_MS) as (keyof typeof UNIT_MS)[])));
    checkProperty(
      fc.property(fc.array(part, { minLength: 1, maxLength: 5 }), (parts) => {
        const text = parts.map(([n, unit]) => `${n}${unit}`).join("");
        const expected = parts.reduce((sum, [n, unit]) => sum + n * UNIT_MS[unit], 0);
        assert.equal(parseDuration(text), expected);
      }),
    );
  });

  test("never throws, and gives undefined or a finite, non-negative number of milliseconds", () => {
    const text = fc.oneof(
      fc.string(),
      fc.string({ unit: fc.constantFrom("1", "9", ".", "m", "s", "h", "d", " ") }),
      fc.stringMatching(/^\d{300,400}(s|m)?$/),
    );
    checkProperty(
      fc.property(fc.oneof(text, fc.double()), (value) => {
        const ms = parseDuration(value);
        if (ms !== undefined) assert.ok(Number.isFinite(ms) && ms >= 0, `${String(value)} → ${ms}`);
      }),
    );
  });
});
