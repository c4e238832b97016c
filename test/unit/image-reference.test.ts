import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { blobLine, imagesInFile, parsePlatforms } from "../../src/cli/prefetch.js";
import {
  formatImageReference,
  ImageReferenceError,
  manifestReference,
  parseImageReference,
} from "../../src/oci/image-reference.js";
import { formatPlatform, parsePlatform, platformMatches } from "../../src/oci/platform.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("parseImageReference", () => {
  const cases: Array<[string, ReturnType<typeof parseImageReference>]> = [
    ["alpine", { name: "alpine" }],
    ["alpine:3.19", { name: "alpine", tag: "3.19" }],
    ["library/alpine:3.19", { name: "library/alpine", tag: "3.19" }],
    ["docker-hub/library/alpine:3.19", { name: "docker-hub/library/alpine", tag: "3.19" }],
    ["docker.io/library/alpine:3.19", { registry: "docker.io", name: "library/alpine", tag: "3.19" }],
    ["docker.io/alpine", { registry: "docker.io", name: "library/alpine" }],
    [
      "registry-1.docker.io/alpine:edge",
      { registry: "registry-1.docker.io", name: "library/alpine", tag: "edge" },
    ],
    ["ghcr.io/org/app:1", { registry: "ghcr.io", name: "org/app", tag: "1" }],
    ["ghcr.io/app", { registry: "ghcr.io", name: "app" }],
    [
      "127.0.0.1:5001/library/small:latest",
      { registry: "127.0.0.1:5001", name: "library/small", tag: "latest" },
    ],
    ["localhost/team/app", { registry: "localhost", name: "team/app" }],
    ["[::1]:5000/team/app:2", { registry: "[::1]:5000", name: "team/app", tag: "2" }],
    [`alpine@${DIGEST}`, { name: "alpine", digest: DIGEST }],
    [`ghcr.io/org/app:1@${DIGEST}`, { registry: "ghcr.io", name: "org/app", tag: "1", digest: DIGEST }],
  ];
  for (const [text, expected] of cases) {
    test(text, () => assert.deepEqual(parseImageReference(text), expected));
  }

  test("a digest pins the manifest, else the tag, else latest", () => {
    assert.equal(manifestReference(parseImageReference(`a:1@${DIGEST}`)), DIGEST);
    assert.equal(manifestReference(parseImageReference("a:1")), "1");
    assert.equal(manifestReference(parseImageReference("a")), "latest");
  });

  test("formatted back with the tag it stands for", () => {
    assert.equal(formatImageReference(parseImageReference("alpine")), "alpine:latest");
    assert.equal(
      formatImageReference(parseImageReference("docker.io/alpine:3")),
      "docker.io/library/alpine:3",
    );
    assert.equal(formatImageReference(parseImageReference(`a@${DIGEST}`)), `a@${DIGEST}`);
  });

  for (const bad of [
    "",
    "Alpine",
    "alpine:",
    "alpine:bad/tag",
    "a@sha256:short",
    "ghcr.io/",
    "a//b",
    "-x:1",
  ]) {
    test(`refuses ${JSON.stringify(bad)}`, () =>
      assert.throws(() => parseImageReference(bad), ImageReferenceError));
  }
});

describe("platforms", () => {
  test("parsed from os/arch[/variant], refused otherwise", () => {
    assert.deepEqual(parsePlatform("linux/arm64/v8"), { os: "linux", architecture: "arm64", variant: "v8" });
    assert.deepEqual(parsePlatform("linux/amd64"), { os: "linux", architecture: "amd64" });
    for (const bad of ["linux", "linux/", "/amd64", "a/b/c/d"])
      assert.equal(parsePlatform(bad), undefined, bad);
    assert.equal(formatPlatform({ os: "linux", architecture: "arm", variant: "v7" }), "linux/arm/v7");
    assert.deepEqual(parsePlatforms("linux/amd64,linux/arm64"), [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64" },
    ]);
    assert.throws(() => parsePlatforms("linux/amd64,arm64"), /--platform arm64 is not os\/arch/);
  });

  test("an index entry matches by os and architecture, and by variant when one is asked for", () => {
    const amd64 = { os: "linux", architecture: "amd64" };
    assert.ok(platformMatches({ os: "linux", architecture: "amd64" }, amd64));
    assert.ok(!platformMatches({ os: "linux", architecture: "arm64" }, amd64));
    assert.ok(!platformMatches({ os: "windows", architecture: "amd64" }, amd64));
    assert.ok(!platformMatches({ os: "linux", architecture: "amd64" }, undefined));
    const armV7 = { os: "linux", architecture: "arm", variant: "v7" };
    assert.ok(platformMatches({ os: "linux", architecture: "arm" }, armV7));
    assert.ok(platformMatches({ os: "linux", architecture: "arm", variant: "v7" }, armV7));
    assert.ok(!platformMatches({ os: "linux", architecture: "arm", variant: "v6" }, armV7));
    // arm64 without a variant is v8.
    assert.ok(
      platformMatches(
        { os: "linux", architecture: "arm64", variant: "v8" },
        { os: "linux", architecture: "arm64" },
      ),
    );
  });
});

describe("prefetch's input and output lines", () => {
  test("a file is one image a line, with comments and blank lines", () => {
    const text = "# site images\nalpine:3.19\n\n  ghcr.io/org/app:1   # the app\nbusybox#not-a-comment\n";
    assert.deepEqual(imagesInFile(text), ["alpine:3.19", "ghcr.io/org/app:1", "busybox#not-a-comment"]);
  });

  test("a blob line: digest, size, outcome, image", () => {
    assert.equal(
      blobLine({ image: "alpine:3.19", digest: DIGEST, size: 3 * 1024 * 1024 }, 3 * 1024 * 1024, "fetched"),
      `${DIGEST} 3.0 MiB fetched alpine:3.19`,
    );
  });
});
