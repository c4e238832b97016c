import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import { multipartRanges } from "../../src/http/multipart-ranges.js";
import { digestOf, isDigest, parseDigest, tryParseDigest } from "../../src/oci/digest.js";
import { isOciError, OCI_ERROR_CODES, OciError, type OciErrorCode } from "../../src/oci/errors.js";
import {
  ALL_MANIFEST_TYPES,
  accepts,
  baseMediaType,
  isImageManifestType,
  isIndexType,
  isManifestType,
  MediaType,
  parseAccept,
} from "../../src/oci/media-types.js";
import {
  assertValidName,
  isValidName,
  isValidTag,
  MAX_NAME_LENGTH,
  parseReference,
  referenceString,
} from "../../src/oci/names.js";
import {
  MAX_RANGES,
  parseRanges,
  type RangeRequest,
  resolveRange,
  resolveRanges,
} from "../../src/oci/range.js";
import {
  assertThrowsOci,
  checkProperty,
  LONG,
  resultOrOciError,
  SPEC_NAME,
  SPEC_TAG,
  validName,
  validTag,
  withoutHanging,
} from "./helpers.js";
import { hostileDigest, hostileReference } from "./hostile-input.js";

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
    checkProperty(
      fc.property(hostileDigest, (value) => {
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
      fc.property(
        fc.uint8Array({ maxLength: 2048 }),
        fc.constantFrom("sha256", "sha512"),
        (bytes, algorithm) => {
          const expected = `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
          const digest = digestOf(bytes, algorithm);
          assert.equal(digest, expected);
          assert.equal(parseDigest(digest).algorithm, algorithm);
        },
      ),
      100,
    );
  });

  test("hashes only the view's bytes of a Uint8Array that shares a larger buffer", () => {
    const whole = Buffer.from("xxhelloxx");
    const view = whole.subarray(2, 7);
    assert.equal(digestOf(view), digestOf(Buffer.from("hello")));
  });
});

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
    checkProperty(
      fc.property(validName, (name) => assert.equal(isValidName(name), true)),
      200,
    );
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
    const tagish = fc.string({
      unit: fc.constantFrom("a", "Z", "0", ".", "_", "-", "+", "/"),
      maxLength: 130,
    });
    checkProperty(
      fc.property(fc.oneof(tagish, validTag), (tag) => assert.equal(isValidTag(tag), SPEC_TAG.test(tag))),
    );
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
    checkProperty(
      fc.property(hostileReference, (reference) => {
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

/** What containerd sends: one comma-joined line. */
const CONTAINERD_ACCEPT = [
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.ociIndex,
  "*/*",
].join(", ");

describe("parseAccept", () => {
  const cases: ReadonlyArray<readonly [string, string | string[] | undefined, string[]]> = [
    ["no header", undefined, []],
    ["an empty header", "", []],
    [
      "containerd's single comma-joined line",
      CONTAINERD_ACCEPT,
      [
        MediaType.dockerManifest,
        MediaType.dockerManifestList,
        MediaType.ociManifest,
        MediaType.ociIndex,
        "*/*",
      ],
    ],
    [
      "Go clients' one line per type",
      [MediaType.ociManifest, MediaType.dockerManifest, MediaType.ociIndex],
      [MediaType.ociManifest, MediaType.dockerManifest, MediaType.ociIndex],
    ],
    [
      "several lines that are themselves comma-joined",
      [`${MediaType.ociManifest},${MediaType.ociIndex}`, MediaType.dockerManifest],
      [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest],
    ],
    [
      "parameters and quality values",
      `${MediaType.ociManifest}; q=0.9, ${MediaType.dockerManifest};charset=utf-8`,
      [MediaType.ociManifest, MediaType.dockerManifest],
    ],
    ["upper case", "Application/VND.OCI.Image.Manifest.v1+JSON", [MediaType.ociManifest]],
    ["empty entries and whitespace", " , application/json ,, ", ["application/json"]],
    ["an empty line among others", ["", MediaType.ociIndex], [MediaType.ociIndex]],
  ];
  for (const [why, header, expected] of cases) {
    test(why, () => assert.deepEqual(parseAccept(header), expected));
  }

  test("never yields empty, padded, parameterised or upper-case entries", () => {
    checkProperty(
      fc.property(fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 4 })), (header) => {
        for (const entry of parseAccept(header)) {
          assert.ok(entry.length > 0);
          assert.equal(entry, entry.trim());
          assert.equal(entry, entry.toLowerCase());
          assert.ok(!entry.includes(",") && !entry.includes(";"), entry);
        }
      }),
    );
  });
});

describe("accepts", () => {
  const cases: ReadonlyArray<readonly [string, string[], string, boolean]> = [
    ["anything when the client sent no Accept", [], MediaType.ociIndex, true],
    ["an exact match", [MediaType.ociManifest], MediaType.ociManifest, true],
    ["not a type the client did not list", [MediaType.dockerManifest], MediaType.ociManifest, false],
    ["*/*", ["*/*"], MediaType.dockerManifestList, true],
    ["application/*", ["application/*"], MediaType.ociIndex, true],
    ["not text/*", ["text/*"], MediaType.ociIndex, false],
    ["one match among others", [MediaType.dockerManifest, MediaType.ociIndex], MediaType.ociIndex, true],
  ];
  for (const [why, list, mediaType, expected] of cases) {
    test(why, () => assert.equal(accepts(list, mediaType), expected));
  }

  test("works on parsed headers: containerd's list takes every manifest kind", () => {
    const list = parseAccept(CONTAINERD_ACCEPT);
    for (const mediaType of ALL_MANIFEST_TYPES) assert.equal(accepts(list, mediaType), true);
  });
});

describe("media type classification", () => {
  const rows: ReadonlyArray<readonly [string, boolean, boolean, boolean]> = [
    // [media type, image manifest, index, any manifest]
    [MediaType.ociManifest, true, false, true],
    [MediaType.dockerManifest, true, false, true],
    [MediaType.ociIndex, false, true, true],
    [MediaType.dockerManifestList, false, true, true],
    [MediaType.dockerSchema1, false, false, true],
    [MediaType.dockerSchema1Signed, false, false, true],
    [MediaType.ociEmpty, false, false, false],
    ["application/json", false, false, false],
    ["", false, false, false],
  ];
  for (const [mediaType, image, index, manifest] of rows) {
    test(mediaType || "(empty)", () => {
      assert.equal(isImageManifestType(mediaType), image);
      assert.equal(isIndexType(mediaType), index);
      assert.equal(isManifestType(mediaType), manifest);
    });
  }

  test("ALL_MANIFEST_TYPES lists the four schema 2 kinds", () => {
    assert.deepEqual(
      [...ALL_MANIFEST_TYPES].sort(),
      [
        MediaType.dockerManifestList,
        MediaType.dockerManifest,
        MediaType.ociIndex,
        MediaType.ociManifest,
      ].sort(),
    );
  });

  test("baseMediaType strips parameters, whitespace and case", () => {
    assert.equal(baseMediaType(" Application/JSON ; charset=utf-8"), "application/json");
    assert.equal(baseMediaType(undefined), "");
    assert.equal(baseMediaType(""), "");
  });
});

describe("parseRanges", () => {
  const cases: ReadonlyArray<readonly [string | undefined, RangeRequest[] | undefined]> = [
    [undefined, undefined],
    ["bytes=0-99", [{ kind: "from", start: 0, end: 99 }]],
    ["bytes=5-5", [{ kind: "from", start: 5, end: 5 }]],
    ["bytes=100-", [{ kind: "from", start: 100 }]],
    ["bytes=-500", [{ kind: "suffix", length: 500 }]],
    ["bytes=-0", [{ kind: "suffix", length: 0 }]],
    ["BYTES = 1 - 2 ", [{ kind: "from", start: 1, end: 2 }]],
    // Backwards is well-formed but selects nothing: a 416, as registries and conformance suites expect.
    ["bytes=5-4", [{ kind: "backwards" }]],
    ["bytes=500-0", [{ kind: "backwards" }]],
    // Anything else is ignored, so the whole blob is sent (RFC 9110 §14.2).
    ["", undefined],
    ["bytes=", undefined],
    ["bytes=-", undefined],
    // Several ranges, in the order asked; empty list elements are allowed (RFC 9110 §5.6.1).
    [
      "bytes=0-1,2-3",
      [
        { kind: "from", start: 0, end: 1 },
        { kind: "from", start: 2, end: 3 },
      ],
    ],
    [
      "bytes=500-, -10 , ,0-0",
      [
        { kind: "from", start: 500 },
        { kind: "suffix", length: 10 },
        { kind: "from", start: 0, end: 0 },
      ],
    ],
    ["bytes=9-0,1-2", [{ kind: "backwards" }, { kind: "from", start: 1, end: 2 }]],
    ["bytes=0-1,junk", undefined],
    ["bytes=,", undefined],
    ["items=0-1", undefined],
    ["bytes 0-1", undefined],
    ["bytes=a-b", undefined],
    ["bytes=1.5-2", undefined],
    ["bytes=0-1 junk", undefined],
    ["bytes=--1", undefined],
  ];
  for (const [header, expected] of cases) {
    test(`${JSON.stringify(header)}`, () => assert.deepEqual(parseRanges(header), expected));
  }

  const long: ReadonlyArray<readonly [string, string, RangeRequest[] | undefined]> = [
    ["spaces before the dash", `bytes=${" ".repeat(LONG)}x`, undefined],
    ["spaces after the dash", `bytes=1-${" ".repeat(LONG)}x`, undefined],
    ["spaces that end well", `bytes=1-${" ".repeat(LONG)}`, [{ kind: "from", start: 1 }]],
    ["digits", `bytes=${"1".repeat(LONG)}-x`, undefined],
  ];
  for (const [why, header, expected] of long) {
    test(`a long header returns promptly: ${why}`, () => {
      assert.deepEqual(
        withoutHanging(() => parseRanges(header)),
        expected,
      );
    });
  }
});

describe("resolveRanges", () => {
  const SIZE = 1000;
  const from = (start: number, end?: number): RangeRequest =>
    end === undefined ? { kind: "from", start } : { kind: "from", start, end };
  const cases: ReadonlyArray<readonly [string, RangeRequest[], ReturnType<typeof resolveRanges>]> = [
    [
      "ranges in the order asked",
      [from(900, 909), { kind: "suffix", length: 5 }, from(0, 0)],
      [
        { start: 900, end: 909 },
        { start: 995, end: 999 },
        { start: 0, end: 0 },
      ],
    ],
    [
      "the unsatisfiable ones dropped",
      [from(2000), from(5, 9), { kind: "backwards" }],
      [{ start: 5, end: 9 }],
    ],
    ["none satisfiable", [from(2000), { kind: "suffix", length: 0 }], "unsatisfiable"],
    ["overlaps adding up past the blob", [from(0), from(10, 20)], "whole"],
    ["more than MAX_RANGES", Array.from({ length: MAX_RANGES + 1 }, (_, i) => from(i, i)), "unsatisfiable"],
  ];
  for (const [why, requests, expected] of cases) {
    test(why, () => assert.deepEqual(resolveRanges(requests, SIZE), expected));
  }
  test("MAX_RANGES ranges are answered", () => {
    const requests = Array.from({ length: MAX_RANGES }, (_, i) => from(i * 2, i * 2));
    assert.equal((resolveRanges(requests, SIZE) as unknown[]).length, MAX_RANGES);
  });
});

describe("multipartRanges", () => {
  test("frames each range with its Content-Range, as Go's file server does, and counts every byte", () => {
    const framing = multipartRanges(
      [
        { start: 0, end: 1 },
        { start: 8, end: 9 },
      ],
      10,
      "application/octet-stream",
      "BOUND",
    );
    assert.equal(framing.contentType, "multipart/byteranges; boundary=BOUND");
    const body = Buffer.concat([
      framing.heads[0] as Buffer,
      Buffer.from("ab"),
      framing.heads[1] as Buffer,
      Buffer.from("ij"),
      framing.tail,
    ]).toString();
    assert.equal(
      body,
      "--BOUND\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-1/10\r\n\r\nab" +
        "\r\n--BOUND\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 8-9/10\r\n\r\nij" +
        "\r\n--BOUND--\r\n",
    );
    assert.equal(framing.length, Buffer.byteLength(body));
  });

  test("picks a new random boundary each time", () => {
    const a = multipartRanges([{ start: 0, end: 0 }], 1, "application/octet-stream");
    const b = multipartRanges([{ start: 0, end: 0 }], 1, "application/octet-stream");
    assert.notEqual(a.contentType, b.contentType);
    assert.match(a.contentType, /^multipart\/byteranges; boundary=[0-9a-f]{32}$/);
  });
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
    ["a backwards range", { kind: "backwards" }, SIZE, "unsatisfiable"],
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
        const request = parseRanges(value)?.[0];
        if (request === undefined) return;
        const range = resolveRange(request, size);
        if (range === "unsatisfiable") return;
        assert.ok(
          Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end),
          JSON.stringify(range),
        );
        assert.ok(0 <= range.start && range.start <= range.end && range.end < size, JSON.stringify(range));
      }),
      1000,
    );
  });
});

const CODES = Object.keys(OCI_ERROR_CODES) as OciErrorCode[];

/** The error codes of the OCI distribution spec v1.1, section "Error Codes". */
const SPEC_V1_1_CODES = [
  "BLOB_UNKNOWN",
  "BLOB_UPLOAD_INVALID",
  "BLOB_UPLOAD_UNKNOWN",
  "DIGEST_INVALID",
  "MANIFEST_BLOB_UNKNOWN",
  "MANIFEST_INVALID",
  "MANIFEST_UNKNOWN",
  "NAME_INVALID",
  "NAME_UNKNOWN",
  "SIZE_INVALID",
  "UNAUTHORIZED",
  "DENIED",
  "UNSUPPORTED",
  "TOOMANYREQUESTS",
];

/** Statuses clients rely on: the spec's endpoint tables and distribution's errcode registry. */
const EXPECTED_STATUS: Partial<Record<OciErrorCode, number>> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_UNKNOWN: 404,
  MANIFEST_UNKNOWN: 404,
  NAME_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_INVALID: 400,
  NAME_INVALID: 400,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  UNAVAILABLE: 503,
  UNKNOWN: 500,
};

describe("OCI error codes", () => {
  test("the codes marked spec are exactly the 14 codes of distribution-spec v1.1", () => {
    const marked = CODES.filter((code) => OCI_ERROR_CODES[code].spec);
    assert.deepEqual([...marked].sort(), [...SPEC_V1_1_CODES].sort());
  });

  test("the table cannot be changed at run time", () => {
    assert.ok(Object.isFrozen(OCI_ERROR_CODES));
  });

  for (const code of CODES) {
    test(`${code} has an error status and a message, and an OciError carries them`, () => {
      const { status, message } = OCI_ERROR_CODES[code];
      assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${status}`);
      assert.ok(message.length > 0);
      const expected = EXPECTED_STATUS[code];
      if (expected !== undefined) assert.equal(status, expected);
      const error = new OciError(code);
      assert.equal(error.code, code);
      assert.equal(error.status, status);
      assert.equal(error.message, message);
      assert.deepEqual(error.toJSON(), { errors: [{ code, message }] });
    });
  }
});

describe("OciError", () => {
  test("renders the spec's envelope, with detail only when there is one", () => {
    const bare = new OciError("BLOB_UNKNOWN");
    assert.deepEqual(JSON.parse(JSON.stringify(bare)), {
      errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown to registry" }],
    });
    assert.ok(!("detail" in (bare.toJSON().errors[0] ?? {})));

    const detailed = new OciError("MANIFEST_UNKNOWN", { message: "no such tag", detail: { tag: "x" } });
    assert.deepEqual(JSON.parse(JSON.stringify(detailed)), {
      errors: [{ code: "MANIFEST_UNKNOWN", message: "no such tag", detail: { tag: "x" } }],
    });
  });

  test("options override the status and carry headers and cause", () => {
    const cause = new Error("root");
    const error = new OciError("BLOB_UPLOAD_INVALID", {
      status: 416,
      headers: { range: "0-9" },
      cause,
    });
    assert.equal(error.status, 416);
    assert.deepEqual(error.headers, { range: "0-9" });
    assert.equal(error.cause, cause);
    assert.deepEqual(new OciError("DENIED").headers, {});
  });

  test("is an Error that isOciError recognises", () => {
    const error = new OciError("DENIED");
    assert.ok(error instanceof Error);
    assert.equal(error.name, "OciError");
    assert.equal(isOciError(error), true);
    assert.equal(isOciError(new Error("DENIED")), false);
    assert.equal(isOciError({ code: "DENIED", status: 403 }), false);
    assert.equal(isOciError(undefined), false);
  });
});
