// planParts: how an upload session's segments become the parts of one multipart upload, under S3's
// rules (every part but the last at least minPart, copies at most maxCopy, at most maxParts parts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { type PartLimits, type PlannedPart, planParts, type Segment } from "../../src/store/s3-compose.js";

const LIMITS: PartLimits = { minPart: 10, maxCopy: 100, maxParts: 10_000 };

/** Segments of these sizes, back to back from 0, named by their index. */
function segments(...sizes: number[]): Segment[] {
  let start = 0;
  return sizes.map((size, index) => {
    const segment = { name: `s${index}`, start, size };
    start += size;
    return segment;
  });
}

/** A plan in a short notation: `copy s0 0-9`, `upload s1 0-0 + s2 0-8`. */
function notation(parts: readonly PlannedPart[]): string[] {
  return parts.map((part) =>
    part.kind === "copy"
      ? `copy ${part.from} ${part.start}-${part.end}`
      : `upload ${part.pieces.map((piece) => `${piece.from} ${piece.start}-${piece.end}`).join(" + ")}`,
  );
}

/** Every byte of the whole comes once, in order, and every part but the last is large enough. */
function assertValid(parts: readonly PlannedPart[], input: readonly Segment[], limits: PartLimits): void {
  const expected: string[] = [];
  for (const segment of input) for (let i = 0; i < segment.size; i++) expected.push(`${segment.name}:${i}`);
  const got: string[] = [];
  for (const [index, part] of parts.entries()) {
    const ranges = part.kind === "copy" ? [part] : part.pieces;
    let length = 0;
    for (const range of ranges) {
      for (let i = range.start; i <= range.end; i++) got.push(`${range.from}:${i}`);
      length += range.end - range.start + 1;
    }
    if (part.kind === "upload") assert.equal(part.length, length);
    if (part.kind === "copy") assert.ok(length <= limits.maxCopy, `copy of ${length} bytes`);
    if (index < parts.length - 1)
      assert.ok(length >= limits.minPart, `part ${index + 1} has ${length} bytes`);
  }
  assert.deepEqual(got, expected);
  assert.ok(parts.length <= limits.maxParts);
}

const CASES: ReadonlyArray<readonly [string, number[], string[]]> = [
  ["one large segment is one copy", [25], ["copy s0 0-24"]],
  ["one small segment is one copy too (it ends the whole)", [3], ["copy s0 0-2"]],
  ["large segments are each copied", [12, 10, 30], ["copy s0 0-11", "copy s1 0-9", "copy s2 0-29"]],
  [
    "small segments are gathered into uploads of minPart",
    [4, 4, 4, 4, 4],
    ["upload s0 0-3 + s1 0-3 + s2 0-1", "upload s2 2-3 + s3 0-3 + s4 0-3"],
  ],
  [
    "a byte between large segments is uploaded with the start of the next, which is then copied",
    [15, 1, 30],
    ["copy s0 0-14", "upload s1 0-0 + s2 0-8", "copy s2 9-29"],
  ],
  [
    "the rest of a segment too small to copy is uploaded with what follows",
    [3, 14, 2],
    ["upload s0 0-2 + s1 0-6", "upload s1 7-13 + s2 0-1"],
  ],
  [
    "a copy longer than maxCopy is split evenly",
    [250],
    ["copy s0 0-83", "copy s0 84-167", "copy s0 168-249"],
  ],
  ["empty segments are skipped", [0, 12, 0, 3], ["copy s1 0-11", "copy s3 0-2"]],
  ["nothing at all is no part", [], []],
];

for (const [why, sizes, expected] of CASES) {
  test(`planParts: ${why}`, () => {
    const input = segments(...sizes);
    const parts = planParts(input, LIMITS);
    assert.deepEqual(notation(parts), expected);
    assertValid(parts, input, LIMITS);
  });
}

test("planParts: parts grow past minPart when the whole would need too many", () => {
  const limits = { minPart: 10, maxCopy: 1000, maxParts: 5 };
  const input = segments(...Array.from({ length: 40 }, () => 3));
  const parts = planParts(input, limits);
  assertValid(parts, input, limits);
  assert.equal(parts.length, 4);
});

test("planParts: any mix of sizes gives a valid plan", () => {
  let state = 7;
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  for (let run = 0; run < 300; run++) {
    const sizes = Array.from({ length: 1 + Math.floor(random() * 12) }, () =>
      random() < 0.5 ? Math.floor(random() * 12) : Math.floor(random() * 220),
    );
    const input = segments(...sizes);
    assertValid(planParts(input, LIMITS), input, LIMITS);
  }
});
