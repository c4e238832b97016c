import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { type Challenge, parseChallenges } from "../../src/upstream/challenge.js";
import { checkProperty } from "./helpers.js";

const DOCKER_HUB =
  'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"';

describe("parseChallenges", () => {
  const cases: ReadonlyArray<readonly [string, string | string[] | undefined, Challenge[]]> = [
    [
      "Docker Hub's challenge, exactly as sent",
      DOCKER_HUB,
      [
        {
          scheme: "bearer",
          params: {
            realm: "https://auth.docker.io/token",
            service: "registry.docker.io",
            scope: "repository:library/busybox:pull",
          },
        },
      ],
    ],
    ["Basic", 'Basic realm="Registry Realm"', [{ scheme: "basic", params: { realm: "Registry Realm" } }]],
    ["a scheme without parameters", "Basic", [{ scheme: "basic", params: {} }]],
    [
      "two challenges in one header",
      'Basic realm="basic realm", Bearer realm="https://auth.example/token",service="example"',
      [
        { scheme: "basic", params: { realm: "basic realm" } },
        { scheme: "bearer", params: { realm: "https://auth.example/token", service: "example" } },
      ],
    ],
    [
      "two challenges in two header lines",
      ['Bearer realm="https://a/token"', 'Basic realm="b"'],
      [
        { scheme: "bearer", params: { realm: "https://a/token" } },
        { scheme: "basic", params: { realm: "b" } },
      ],
    ],
    [
      "unquoted values",
      "Bearer realm=https://auth.example/token,service=registry.example",
      [{ scheme: "bearer", params: { realm: "https://auth.example/token", service: "registry.example" } }],
    ],
    [
      "unquoted values followed by another challenge",
      "Basic realm=x, Bearer realm=y",
      [
        { scheme: "basic", params: { realm: "x" } },
        { scheme: "bearer", params: { realm: "y" } },
      ],
    ],
    [
      "escaped quotes and backslashes",
      'Bearer realm="https://a/token",error_description="the \\"token\\" is in C:\\\\tmp"',
      [
        {
          scheme: "bearer",
          params: { realm: "https://a/token", error_description: 'the "token" is in C:\\tmp' },
        },
      ],
    ],
    [
      "a comma inside a quoted scope",
      'Bearer realm="r",scope="repository:a:pull,push"',
      [{ scheme: "bearer", params: { realm: "r", scope: "repository:a:pull,push" } }],
    ],
    [
      "case in scheme and parameter names",
      'BEARER Realm="R",SERVICE="S"',
      [{ scheme: "bearer", params: { realm: "R", service: "S" } }],
    ],
    [
      "whitespace around = and commas",
      'Bearer realm = "r" ,  service= "s"',
      [{ scheme: "bearer", params: { realm: "r", service: "s" } }],
    ],
    ["an empty quoted value", 'Bearer realm=""', [{ scheme: "bearer", params: { realm: "" } }]],
    ["no header", undefined, []],
    ["an empty header", "", []],
    ["no header lines", [], []],
    ["punctuation only", ";;;", []],
  ];
  for (const [why, header, expected] of cases) {
    test(why, () => assert.deepEqual(parseChallenges(header), expected));
  }

  const garbage = [
    '"unterminated',
    'Bearer realm="unterminated',
    "Bearer realm",
    "=,=,=",
    "Bearer ,,, ,",
    'Bearer realm="a" junk "b"',
    "\u0000\uffff",
    `Bearer ${"a=".repeat(5000)}`,
    `Bearer realm="${"\\".repeat(20_001)}`,
    `${"Bearer ".repeat(5000)}`,
  ];
  for (const header of garbage) {
    test(`garbage does not throw: ${JSON.stringify(header.slice(0, 30))}`, () => {
      const challenges = parseChallenges(header);
      assert.ok(Array.isArray(challenges));
      for (const challenge of challenges) assert.match(challenge.scheme, /^[a-z][a-z0-9_-]*$/);
    });
  }

  test("never throws, and every scheme is a lower-case token", () => {
    const header = fc.oneof(
      fc.string({ unit: "binary" }),
      fc.string({ unit: fc.constantFrom("B", "a", "=", '"', "\\", ",", " ", "r") }),
    );
    checkProperty(
      fc.property(fc.oneof(header, fc.array(header, { maxLength: 3 })), (value) => {
        for (const challenge of parseChallenges(value)) {
          assert.match(challenge.scheme, /^[a-z][a-z0-9_-]*$/);
          for (const param of Object.values(challenge.params)) assert.equal(typeof param, "string");
        }
      }),
      1000,
    );
  });

  test("quoted values of any content round-trip", () => {
    const token = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
    const challenge = fc.record({
      scheme: token,
      params: fc.dictionary(token, fc.string({ unit: "binary" }), { maxKeys: 4 }),
    });
    const quote = (value: string) => `"${value.replace(/[\\"]/g, "\\$&")}"`;
    const render = (c: Challenge) =>
      [c.scheme, Object.entries(c.params).map(([k, v]) => `${k}=${quote(v)}`).join(",")].join(" ").trim();
    checkProperty(
      fc.property(fc.array(challenge, { minLength: 1, maxLength: 3 }), (challenges) => {
        // fast-check builds null-prototype records; compare as plain objects.
        const expected = challenges.map((c) => ({ scheme: c.scheme, params: { ...c.params } }));
        assert.deepEqual(parseChallenges(challenges.map(render).join(", ")), expected);
      }),
    );
  });
});
