import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import { digestOf, isDigest, parseDigest, tryParseDigest } from "../../src/oci/digest.js";
import { assertThrowsOci, checkProperty, resultOrOciError } from "./helpers.js";

const HEX64 = "a".repeat(64);
const HEX128 = "b".repeat(128);
const EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

describe("parseDigest", () => {
  test("accepts sha256 and sha512 digests and splits them", () => {
    for (const [algorithm, hex] of [
      ["sha256", HEX64],
      ["sha512", HEX128],
    ] as const) {
      const digest = `${algorithm}:${hex}`;
      assert.deepEqual(parseDigest(digest), { algorithm, hex, digest });
      assert.equal(isDigest(digest), true);
    }
  });

  const invalid: ReadonlyArray<readonly [string, string]> = [
    ["upper-case hex", `sha256:${"A".repeat(64)}`],
    ["mixed-case hex", `sha256:${"a".repeat(63)}F`],
    ["upper-case algorithm", `SHA256:${HEX64}`],
    ["hex one short", `sha256:${"a".repeat(63)}`],
    ["hex one long", `sha256:${"a".repeat(65)}`],
    ["sha512 with a sha256 length", `sha512:${HEX64}`],
    ["sha256 with a sha512 length", `sha256:${HEX128}`],
    ["non-hex letters", `sha256:${"g".repeat(64)}`],
    ["unknown algorithm", `sha384:${"c".repeat(96)}`],
    ["md5", "md5:d41d8cd98f00b204e9800998ecf8427e"],
    ["algorithm with separator (syntactically valid, not verifiable)", `sha256+b64:${HEX64}`],
    ["inherited object property as algorithm", `constructor:${HEX64}`],
    ["empty", ""],
    ["algorithm only", "sha256"],
    ["empty hex", "sha256:"],
    ["empty algorithm", `:${HEX64}`],
    ["two colons", `sha256::${HEX64}`],
    ["leading space", ` sha256:${HEX64}`],
    ["trailing newline", `sha256:${HEX64}\n`],
    ["path separator in hex", `sha256:${"a".repeat(32)}/${"a".repeat(31)}`],
    ["traversal", `sha256:../../${"a".repeat(58)}`],
  ];
  for (const [why, value] of invalid) {
    test(`refuses ${why}`, () => {
      assert.equal(tryParseDigest(value), undefined);
      assert.equal(isDigest(value), false);
      const error = assertThrowsOci(() => parseDigest(value), "DIGEST_INVALID", 400);
      assert.deepEqual(error.detail, { digest: value });
    });
  }

  test("any string either parses to a consistent digest or is refused with DIGEST_INVALID", () => {
    const digestish = fc.oneof(
      fc.string({ unit: "binary" }),
      fc
        .tuple(
          fc.constantFrom("sha256", "sha512", "SHA256", "sha384", "", "sha256+x"),
          fc.stringMatching(/^[0-9a-fA-F]{60,130}$/),
        )
        .map(([algorithm, hex]) => `${algorithm}:${hex}`),
    );
    checkProperty(
      fc.property(digestish, (value) => {
        const result = resultOrOciError(() => parseDigest(value), ["DIGEST_INVALID"]);
        if (result instanceof Error) return;
        assert.equal(`${result.algorithm}:${result.hex}`, value);
        assert.match(result.hex, result.algorithm === "sha256" ? /^[0-9a-f]{64}$/ : /^[0-9a-f]{128}$/);
      }),
    );
  });
});

describe("digestOf", () => {
  test("is sha256 by default and matches node:crypto", () => {
    assert.equal(digestOf(new Uint8Array()), EMPTY_SHA256);
  });

  test("matches node:crypto for both algorithms, and its output parses", () => {
    checkProperty(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.constantFrom("sha256", "sha512"), (bytes, algorithm) => {
        const expected = `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
        const digest = digestOf(bytes, algorithm);
        assert.equal(digest, expected);
        assert.equal(parseDigest(digest).algorithm, algorithm);
      }),
      100,
    );
  });

  test("hashes only the view's bytes of a Uint8Array that shares a larger buffer", () => {
    const whole = Buffer.from("xxhelloxx");
    const view = whole.subarray(2, 7);
    assert.equal(digestOf(view), digestOf(Buffer.from("hello")));
  });
});
