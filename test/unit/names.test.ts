import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  assertValidName,
  isValidName,
  isValidTag,
  MAX_NAME_LENGTH,
  parseReference,
  referenceString,
} from "../../src/oci/names.js";
import {
  assertThrowsOci,
  checkProperty,
  resultOrOciError,
  SPEC_NAME,
  SPEC_TAG,
  validName,
  validTag,
} from "./helpers.js";

const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;

/** A valid name of exactly `length` characters (at least 200), with many components. */
function nameOfLength(length: number): string {
  return `${"a/".repeat(100)}${"x".repeat(length - 200)}`;
}

describe("repository names", () => {
  const valid = [
    "a",
    "0",
    "busybox",
    "library/busybox",
    "a/b/c/d/e",
    "a.b",
    "a_b",
    "a__b",
    "a-b",
    "a--b",
    "a---b",
    "a.b_c__d-e--f",
    "9a/b9",
    "blobs/manifests",
    nameOfLength(MAX_NAME_LENGTH),
  ];
  for (const name of valid) {
    test(`accepts ${JSON.stringify(name.length > 40 ? `${name.slice(0, 20)}…(${name.length})` : name)}`, () => {
      assert.equal(isValidName(name), true);
      assert.equal(assertValidName(name), name);
    });
  }

  const invalid: ReadonlyArray<readonly [string, string]> = [
    ["empty", ""],
    ["upper case", "Library/busybox"],
    ["upper case inside", "busyBox"],
    ["..", ".."],
    ["dot-dot component", "a/../b"],
    ["double dot separator", "a..b"],
    ["three underscores", "a___b"],
    ["mixed separators", "a.-b"],
    ["underscore then dash", "a_-b"],
    ["leading dot", ".a"],
    ["trailing dot", "a."],
    ["leading dash", "-a"],
    ["trailing dash", "a-"],
    ["leading underscore", "_a"],
    ["trailing underscore", "a_"],
    ["leading slash", "/a"],
    ["trailing slash", "a/"],
    ["empty component", "a//b"],
    ["component starting with a separator", "a/-b"],
    ["space", "a b"],
    ["colon", "a:b"],
    ["at sign", "a@b"],
    ["newline", "a\nb"],
    ["non-ASCII letter", "caf\u00e9"],
    ["too long", nameOfLength(MAX_NAME_LENGTH + 1)],
  ];
  for (const [why, name] of invalid) {
    test(`refuses ${why}`, () => {
      assert.equal(isValidName(name), false);
      const error = assertThrowsOci(() => assertValidName(name), "NAME_INVALID", 400);
      assert.deepEqual(error.detail, { name });
    });
  }

  test("agrees with the spec's grammar and the 255 limit on strings of name characters", () => {
    const nameish = fc.string({
      unit: fc.constantFrom("a", "b", "Z", "0", ".", "_", "-", "/", ":"),
      maxLength: 12,
    });
    checkProperty(
      fc.property(nameish, (name) => {
        assert.equal(isValidName(name), SPEC_NAME.test(name));
      }),
      2000,
    );
  });

  test("accepts every name the grammar generates", () => {
    checkProperty(fc.property(validName, (name) => assert.equal(isValidName(name), true)));
  });

  test("never throws anything but NAME_INVALID", () => {
    checkProperty(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (name) => {
        const result = resultOrOciError(() => assertValidName(name), ["NAME_INVALID"]);
        assert.equal(typeof result === "string", isValidName(name));
      }),
    );
  });
});

describe("tags", () => {
  const valid = ["latest", "v1.0.0", "1", "A", "_", "_x", "a-b_c.D", "x".repeat(128)];
  for (const tag of valid) {
    test(`accepts ${JSON.stringify(tag.length > 40 ? `x…(${tag.length})` : tag)}`, () => {
      assert.equal(isValidTag(tag), true);
      assert.deepEqual(parseReference(tag), { kind: "tag", tag });
    });
  }

  const invalid: ReadonlyArray<readonly [string, string]> = [
    ["empty", ""],
    ["129 characters", "x".repeat(129)],
    ["leading dot", ".x"],
    ["leading dash", "-x"],
    ["slash", "a/b"],
    ["plus", "a+b"],
    ["space", "a b"],
    ["trailing newline", "latest\n"],
    ["non-ASCII", "v\u00e9"],
  ];
  for (const [why, tag] of invalid) {
    test(`refuses ${why} with TAG_INVALID`, () => {
      assert.equal(isValidTag(tag), false);
      assertThrowsOci(() => parseReference(tag), "TAG_INVALID", 400);
    });
  }

  test("agrees with the spec's tag grammar", () => {
    const tagish = fc.string({ unit: fc.constantFrom("a", "Z", "0", ".", "_", "-", "+", "/"), maxLength: 130 });
    checkProperty(fc.property(fc.oneof(tagish, validTag), (tag) => assert.equal(isValidTag(tag), SPEC_TAG.test(tag))));
  });
});

describe("parseReference", () => {
  test("a reference with a colon is a digest", () => {
    assert.deepEqual(parseReference(DIGEST), { kind: "digest", digest: DIGEST });
    assert.equal(referenceString(parseReference(DIGEST)), DIGEST);
    assert.equal(referenceString(parseReference("latest")), "latest");
  });

  const badDigests: ReadonlyArray<readonly [string, string]> = [
    ["upper-case hex", DIGEST.toUpperCase().replace("SHA256", "sha256")],
    ["unknown algorithm", `sha1:${"a".repeat(40)}`],
    ["tag with a colon", "v1:2"],
    ["bare colon", ":"],
    ["short hex", "sha256:abc"],
  ];
  for (const [why, reference] of badDigests) {
    test(`refuses ${why} with DIGEST_INVALID`, () => {
      assertThrowsOci(() => parseReference(reference), "DIGEST_INVALID", 400);
    });
  }

  test("any string either parses or throws DIGEST_INVALID/TAG_INVALID, and never anything else", () => {
    const referenceish = fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), validTag, fc.constant(DIGEST));
    checkProperty(
      fc.property(referenceish, (reference) => {
        const result = resultOrOciError(() => parseReference(reference), ["DIGEST_INVALID", "TAG_INVALID"]);
        if (result instanceof Error) {
          assert.equal(result.code, reference.includes(":") ? "DIGEST_INVALID" : "TAG_INVALID");
          return;
        }
        assert.equal(referenceString(result), reference);
        assert.equal(result.kind, reference.includes(":") ? "digest" : "tag");
      }),
      1000,
    );
  });
});
