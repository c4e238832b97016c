// Which tags a sync keeps fresh: exact tags, a regex, a semver range, the newest N, and the way
// image tags read as versions.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { selectTags, type TagRule, versionOf } from "../../src/ops/tag-selection.js";

describe("versionOf", () => {
  const cases: ReadonlyArray<readonly [string, string | undefined]> = [
    ["1.27.3", "1.27.3"],
    ["1.27", "1.27.0"],
    ["20", "20.0.0"],
    ["v2.1", "2.1.0"],
    ["1.27.3-alpine", "1.27.3-alpine"],
    ["3.19-bookworm-slim", "3.19.0-bookworm-slim"],
    ["latest", undefined],
    ["stable-alpine", undefined],
    ["1.2.3.4", undefined],
    ["sha-abc123", undefined],
  ];
  for (const [tag, version] of cases) {
    test(`${tag} → ${version ?? "not a version"}`, () => assert.equal(versionOf(tag), version));
  }
});

describe("selectTags", () => {
  const AVAILABLE = [
    "latest",
    "stable",
    "1.25",
    "1.25.4",
    "1.26.0",
    "1.26.1",
    "1.26.1-alpine",
    "1.27.0",
    "1.27.1",
    "1.28.0-rc1",
    "mainline",
  ];
  const cases: ReadonlyArray<readonly [string, TagRule, readonly string[]]> = [
    ["exact tags, whatever upstream lists", { tags: ["latest", "9.9"] }, ["latest", "9.9"]],
    ["a regex", { regex: "^1\\.26\\." }, ["1.26.0", "1.26.1", "1.26.1-alpine"]],
    [
      "a semver range leaves variants and release candidates out",
      { semver: ">=1.26 <1.28" },
      ["1.26.0", "1.26.1", "1.27.0", "1.27.1"],
    ],
    ["a regex and a range together", { regex: "^1\\.2[67]\\.\\d+$", semver: "^1.27" }, ["1.27.0", "1.27.1"]],
    ["the newest N of every version", { newest: 2 }, ["1.28.0-rc1", "1.27.1"]],
    ["the newest N of a range", { semver: "1.x", newest: 3 }, ["1.27.1", "1.27.0", "1.26.1"]],
    [
      "listed tags first, then the matched, each once",
      { tags: ["stable", "1.27.1"], semver: "~1.27" },
      ["stable", "1.27.1", "1.27.0"],
    ],
    ["nothing matches", { regex: "^2\\." }, []],
  ];
  for (const [why, rule, expected] of cases) {
    test(why, () => assert.deepEqual(selectTags(rule, AVAILABLE), expected));
  }
});
