import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseRange, type RangeRequest, resolveRange } from "../../src/oci/range.js";
import { checkProperty } from "./helpers.js";

describe("parseRange", () => {
  const cases: ReadonlyArray<readonly [string | undefined, RangeRequest | undefined]> = [
    [undefined, undefined],
    ["bytes=0-99", { kind: "from", start: 0, end: 99 }],
    ["bytes=5-5", { kind: "from", start: 5, end: 5 }],
    ["bytes=100-", { kind: "from", start: 100 }],
    ["bytes=-500", { kind: "suffix", length: 500 }],
    ["bytes=-0", { kind: "suffix", length: 0 }],
    ["BYTES = 1 - 2 ", { kind: "from", start: 1, end: 2 }],
    // Anything else is ignored, so the whole blob is sent (RFC 9110 §14.2).
    ["", undefined],
    ["bytes=", undefined],
    ["bytes=-", undefined],
    ["bytes=5-4", undefined],
    ["bytes=0-1,2-3", undefined],
    ["bytes=0-1, 5-", undefined],
    ["items=0-1", undefined],
    ["bytes 0-1", undefined],
    ["bytes=a-b", undefined],
    ["bytes=1.5-2", undefined],
    ["bytes=0-1 junk", undefined],
    ["bytes=--1", undefined],
  ];
  for (const [header, expected] of cases) {
    test(`${JSON.stringify(header)}`, () => assert.deepEqual(parseRange(header), expected));
  }
});

describe("resolveRange", () => {
  const SIZE = 1000;
  const cases: ReadonlyArray<readonly [string, RangeRequest, number, ReturnType<typeof resolveRange>]> = [
    ["a closed range", { kind: "from", start: 0, end: 99 }, SIZE, { start: 0, end: 99 }],
    ["an open-ended range", { kind: "from", start: 900 }, SIZE, { start: 900, end: 999 }],
    ["the last byte", { kind: "from", start: 999, end: 999 }, SIZE, { start: 999, end: 999 }],
    ["an end beyond the size", { kind: "from", start: 10, end: 5000 }, SIZE, { start: 10, end: 999 }],
    ["a start at the size", { kind: "from", start: 1000 }, SIZE, "unsatisfiable"],
    ["a start beyond the size", { kind: "from", start: 2000, end: 3000 }, SIZE, "unsatisfiable"],
    ["a suffix", { kind: "suffix", length: 100 }, SIZE, { start: 900, end: 999 }],
    ["a suffix longer than the blob", { kind: "suffix", length: 5000 }, SIZE, { start: 0, end: 999 }],
    ["an empty suffix", { kind: "suffix", length: 0 }, SIZE, "unsatisfiable"],
    ["bytes=0- of an empty blob", { kind: "from", start: 0 }, 0, "unsatisfiable"],
    ["a suffix of an empty blob", { kind: "suffix", length: 1 }, 0, "unsatisfiable"],
  ];
  for (const [why, request, size, expected] of cases) {
    test(why, () => assert.deepEqual(resolveRange(request, size), expected));
  }

  test("never throws, and a satisfiable range always lies inside the blob", () => {
    const header = fc.oneof(
      fc.string(),
      fc
        .tuple(fc.option(fc.nat({ max: 3000 })), fc.option(fc.nat({ max: 3000 })))
        .map(([start, end]) => `bytes=${start ?? ""}-${end ?? ""}`),
      fc.stringMatching(/^bytes=\d{0,30}-\d{0,30}$/),
    );
    checkProperty(
      fc.property(header, fc.nat({ max: 2000 }), (value, size) => {
        const request = parseRange(value);
        if (request === undefined) return;
        const range = resolveRange(request, size);
        if (range === "unsatisfiable") return;
        assert.ok(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end), JSON.stringify(range));
        assert.ok(0 <= range.start && range.start <= range.end && range.end < size, JSON.stringify(range));
      }),
      1000,
    );
  });
});
