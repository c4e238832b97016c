import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
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
import { checkProperty } from "./helpers.js";

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
      [MediaType.dockerManifest, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.ociIndex, "*/*"],
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
    assert.deepEqual([...ALL_MANIFEST_TYPES].sort(), [
      MediaType.dockerManifestList,
      MediaType.dockerManifest,
      MediaType.ociIndex,
      MediaType.ociManifest,
    ].sort());
  });

  test("baseMediaType strips parameters, whitespace and case", () => {
    assert.equal(baseMediaType(" Application/JSON ; charset=utf-8"), "application/json");
    assert.equal(baseMediaType(undefined), "");
    assert.equal(baseMediaType(""), "");
  });
});
