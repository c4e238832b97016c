import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { type ParsedPath, parsePath, ROUTE_METHODS, type Route, splitTarget } from "../../src/http/routes.js";
import { DOCKER_HUB_HOSTS } from "../../src/oci/docker-hub.js";
import { OciError } from "../../src/oci/errors.js";
import { GroupRepository } from "../../src/repos/group.js";
import type { Repository } from "../../src/repos/repository.js";
import { RepositoryRouter, type RouteQuery } from "../../src/repos/router.js";
import { assertThrowsOci, checkProperty, LONG, validName, validTag, withoutHanging } from "./helpers.js";
import { hostilePath } from "./hostile-input.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;
const UPLOAD_ID = "0f6c1e4e-5b1a-4c55-9d7e-3a0e9d1b2c3d";

function registry(route: Route): ParsedPath {
  return { kind: "registry", route };
}

describe("parsePath", () => {
  const routes: ReadonlyArray<readonly [string, Route]> = [
    ["/v2", { kind: "base" }],
    ["/v2/", { kind: "base" }],
    ["/v2/_catalog", { kind: "catalog" }],
    [
      "/v2/library/busybox/manifests/latest",
      { kind: "manifest", name: "library/busybox", reference: "latest" },
    ],
    [`/v2/busybox/manifests/${DIGEST}`, { kind: "manifest", name: "busybox", reference: DIGEST }],
    [`/v2/a/b/c/blobs/${DIGEST}`, { kind: "blob", name: "a/b/c", digest: DIGEST }],
    ["/v2/busybox/blobs/uploads/", { kind: "uploads", name: "busybox" }],
    ["/v2/busybox/blobs/uploads", { kind: "uploads", name: "busybox" }],
    [`/v2/busybox/blobs/uploads/${UPLOAD_ID}`, { kind: "upload", name: "busybox", id: UPLOAD_ID }],
    ["/v2/library/busybox/tags/list", { kind: "tags", name: "library/busybox" }],
    [`/v2/busybox/referrers/${DIGEST}`, { kind: "referrers", name: "busybox", digest: DIGEST }],
    // Names whose components are words of the URL grammar.
    ["/v2/blobs/manifests/latest", { kind: "manifest", name: "blobs", reference: "latest" }],
    ["/v2/manifests/manifests/manifests", { kind: "manifest", name: "manifests", reference: "manifests" }],
    ["/v2/a/manifests/b/manifests/latest", { kind: "manifest", name: "a/manifests/b", reference: "latest" }],
    ["/v2/a/blobs/uploads/manifests/v1", { kind: "manifest", name: "a/blobs/uploads", reference: "v1" }],
    [`/v2/a/blobs/b/blobs/${DIGEST}`, { kind: "blob", name: "a/blobs/b", digest: DIGEST }],
    [`/v2/a/manifests/blobs/${DIGEST}`, { kind: "blob", name: "a/manifests", digest: DIGEST }],
    [`/v2/a/blobs/uploads/blobs/${DIGEST}`, { kind: "blob", name: "a/blobs/uploads", digest: DIGEST }],
    ["/v2/uploads/blobs/uploads/", { kind: "uploads", name: "uploads" }],
    ["/v2/a/blobs/blobs/uploads", { kind: "uploads", name: "a/blobs" }],
    ["/v2/a/blobs/uploads/blobs/uploads/x", { kind: "upload", name: "a/blobs/uploads", id: "x" }],
    ["/v2/tags/tags/list", { kind: "tags", name: "tags" }],
    ["/v2/a/manifests/tags/list", { kind: "tags", name: "a/manifests" }],
    [`/v2/a/blobs/referrers/${DIGEST}`, { kind: "referrers", name: "a/blobs", digest: DIGEST }],
  ];
  for (const [path, route] of routes) {
    test(`${path} is ${route.kind}`, () => assert.deepEqual(parsePath(path), registry(route)));
  }

  const others = ["/", "", "/v1/", "/v20", "/v2x/", "/metrics", "/V2/", "/api/v2/x", "//v2/"];
  for (const path of others) {
    test(`${JSON.stringify(path)} is not a registry path`, () =>
      assert.deepEqual(parsePath(path), { kind: "other" }));
  }

  const invalid = [
    "/v2/a/%2e%2e/manifests/latest",
    "/v2/a/%2E%2E/manifests/latest",
    "/v2/a%2fb/manifests/latest",
    "/v2/a%2Fb/manifests/latest",
    "/v2/a/manifests/%2e%2e",
    `/v2/a/blobs/sha256%3a${"ab".repeat(32)}`,
    "/v2/%",
    "/v2/_catalog/",
    "/v2/_catalogue",
    "/v2/busybox",
    "/v2/busybox/",
    "/v2/busybox/manifests",
    "/v2/busybox/manifests/",
    "/v2/busybox/manifests/a/b",
    "/v2//manifests/latest",
    "/v2/manifests/latest",
    "/v2/busybox/blobs/",
    "/v2/busybox/tags/list/",
    "/v2/busybox/tags",
    "/v2/busybox/referrers/",
    "/v2//",
  ];
  for (const path of invalid) {
    test(`${path} is refused`, () => {
      const parsed = parsePath(path);
      assert.equal(parsed.kind, "invalid");
      assert.ok(parsed.kind === "invalid" && parsed.reason.length > 0);
    });
  }

  const long: ReadonlyArray<readonly [string, string, ParsedPath["kind"]]> = [
    ["many manifests components", `/v2/${"a/manifests/".repeat(LONG / 12)}x/y`, "invalid"],
    ["many blobs/uploads components", `/v2/${"a/blobs/uploads/".repeat(LONG / 16)}x/y`, "invalid"],
    ["one long component", `/v2/${"a".repeat(LONG)}/tags/list`, "registry"],
  ];
  for (const [why, path, kind] of long) {
    test(`a long path returns promptly: ${why}`, () => {
      assert.equal(withoutHanging(() => parsePath(path)).kind, kind);
    });
  }

  test("never throws; a registry route never carries an encoded or empty part", () => {
    checkProperty(
      fc.property(hostilePath, (path) => {
        const parsed = parsePath(path);
        if (parsed.kind !== "registry") return;
        for (const value of Object.values(parsed.route)) {
          assert.ok(value.length > 0 && !value.includes("%"), `${path} → ${JSON.stringify(parsed.route)}`);
        }
      }),
      1000,
    );
  });

  test("every valid name and reference round-trips through every route kind", () => {
    const tagOrDigest = fc.oneof(validTag, fc.constant(DIGEST));
    const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/);
    checkProperty(
      fc.property(validName, tagOrDigest, id, (name, reference, uploadId) => {
        const expected: ReadonlyArray<readonly [string, Route]> = [
          [`/v2/${name}/manifests/${reference}`, { kind: "manifest", name, reference }],
          [`/v2/${name}/blobs/${DIGEST}`, { kind: "blob", name, digest: DIGEST }],
          [`/v2/${name}/blobs/uploads/`, { kind: "uploads", name }],
          [`/v2/${name}/blobs/uploads/${uploadId}`, { kind: "upload", name, id: uploadId }],
          [`/v2/${name}/tags/list`, { kind: "tags", name }],
          [`/v2/${name}/referrers/${DIGEST}`, { kind: "referrers", name, digest: DIGEST }],
        ];
        for (const [path, route] of expected) assert.deepEqual(parsePath(path), registry(route), path);
      }),
      300,
    );
  });
});

describe("splitTarget", () => {
  test("separates the path, left as sent, from the decoded query", () => {
    const { path, query } = splitTarget("/v2/_catalog?n=10&last=a%2Fb");
    assert.equal(path, "/v2/_catalog");
    assert.equal(query.get("n"), "10");
    assert.equal(query.get("last"), "a/b");
  });

  test("keeps a percent-encoded path encoded, so parsePath can refuse it", () => {
    const { path } = splitTarget("/v2/a%2fb/manifests/latest?ns=docker.io");
    assert.equal(path, "/v2/a%2fb/manifests/latest");
    assert.equal(parsePath(path).kind, "invalid");
  });

  const cases: ReadonlyArray<readonly [string, string, Record<string, string>]> = [
    ["/v2/", "/v2/", {}],
    ["/v2/?", "/v2/", {}],
    ["/v2/a/manifests/latest?ns=docker.io", "/v2/a/manifests/latest", { ns: "docker.io" }],
    ["/v2/a/tags/list?n=5&last=v1?x", "/v2/a/tags/list", { n: "5", last: "v1?x" }],
    ["?ns=x", "", { ns: "x" }],
  ];
  for (const [target, expectedPath, expectedQuery] of cases) {
    test(target, () => {
      const { path, query } = splitTarget(target);
      assert.equal(path, expectedPath);
      assert.deepEqual(Object.fromEntries(query), expectedQuery);
    });
  }

  test("the path never contains the query", () => {
    checkProperty(
      fc.property(fc.string(), fc.string(), (path, query) => {
        fc.pre(!path.includes("?"));
        assert.equal(splitTarget(`${path}?${query}`).path, path);
        assert.equal(splitTarget(path).path, path);
      }),
    );
  });
});

describe("ROUTE_METHODS", () => {
  test("names the methods of every route kind, frozen", () => {
    assert.ok(Object.isFrozen(ROUTE_METHODS));
    assert.deepEqual(ROUTE_METHODS.manifest, ["GET", "HEAD", "PUT", "DELETE"]);
    assert.deepEqual(ROUTE_METHODS.blob, ["GET", "HEAD", "DELETE"]);
    assert.deepEqual(ROUTE_METHODS.uploads, ["POST"]);
    for (const kind of ["base", "catalog", "manifest", "blob", "tags", "referrers"] as const) {
      assert.ok(ROUTE_METHODS[kind].includes("GET"), kind);
    }
  });
});

/** A repository that only has a name: routing must never touch its content. */
function fakeRepository(name: string): Repository {
  const unused = (): Promise<never> => Promise.reject(new Error(`${name}: routing must not read content`));
  const repository: Repository = {
    name,
    members: [],
    // The router is handed the hosts apart (REGISTRY_HOSTS), as build.ts collects them.
    registryHosts: [],
    visibleTo: () => repository,
    describe: unused,
    statBlob: unused,
    openBlob: unused,
    getManifest: unused,
    listTags: unused,
    listReferrers: unused,
    listNames: unused,
    hasLocalBlob: unused,
    writer: undefined,
  };
  return repository;
}

const MEMBERS: ReadonlyMap<string, Repository> = new Map(
  ["docker-hub", "ghcr", "quay-mirror", "private"].map((name) => [name, fakeRepository(name)]),
);

/** A real group, since routing follows group membership for `ns` on bound listeners. */
const ALL = new GroupRepository(
  "all",
  [MEMBERS.get("private"), MEMBERS.get("docker-hub")] as Repository[],
  undefined,
);

const REPOSITORIES: ReadonlyMap<string, Repository> = new Map([...MEMBERS, ["all", ALL]]);

const REGISTRY_HOSTS = new Map<string, readonly string[]>([
  ["docker-hub", DOCKER_HUB_HOSTS],
  ["ghcr", ["GHCR.io"]],
  // A second proxy of the same host: the first one declared wins.
  ["quay-mirror", ["ghcr.io", "quay.io"]],
]);

function router(defaultRepository: string | undefined): RepositoryRouter {
  return new RepositoryRouter(REPOSITORIES, REGISTRY_HOSTS, defaultRepository);
}

describe("RepositoryRouter.resolve", () => {
  const routed: ReadonlyArray<readonly [string, RouteQuery, string, string, string?]> = [
    // [why, query, repository, name inside it, namespace]
    [
      "a bound listener wins over a path prefix",
      { boundRepository: "private", name: "docker-hub/x" },
      "private",
      "docker-hub/x",
    ],
    [
      "on a bound listener, ns picks a proxy that listener's repository reaches",
      { boundRepository: "all", name: "x", ns: "docker.io" },
      "docker-hub",
      "x",
      "docker.io",
    ],
    [
      "ns picks the proxy of that registry",
      { name: "library/busybox", ns: "docker.io" },
      "docker-hub",
      "library/busybox",
      "docker.io",
    ],
    [
      "ns matches any of Docker Hub's hosts",
      { name: "x", ns: "registry-1.docker.io" },
      "docker-hub",
      "x",
      "registry-1.docker.io",
    ],
    ["ns is case-insensitive", { name: "x", ns: "Docker.IO" }, "docker-hub", "x", "Docker.IO"],
    ["configured hosts are case-insensitive", { name: "x", ns: "ghcr.io" }, "ghcr", "x", "ghcr.io"],
    ["the first proxy of a host wins", { name: "x", ns: "GHCR.IO" }, "ghcr", "x", "GHCR.IO"],
    [
      "ns wins over a path prefix",
      { name: "ghcr/owner/image", ns: "quay.io" },
      "quay-mirror",
      "ghcr/owner/image",
      "quay.io",
    ],
    ["an empty ns is ignored", { name: "ghcr/owner/image", ns: "" }, "ghcr", "owner/image"],
    ["a path prefix names the repository", { name: "ghcr/owner/image" }, "ghcr", "owner/image"],
    [
      "a prefix keeps deeper components",
      { name: "docker-hub/library/busybox" },
      "docker-hub",
      "library/busybox",
    ],
    [
      "an unknown prefix goes to the default with the whole name",
      { name: "library/busybox" },
      "all",
      "library/busybox",
    ],
    ["a one-component name goes to the default", { name: "busybox" }, "all", "busybox"],
    ["a repository's name alone is an image name in the default", { name: "ghcr" }, "all", "ghcr"],
  ];
  for (const [why, query, repository, name, namespace] of routed) {
    test(why, () => {
      const result = router("all").resolve(query);
      assert.equal(result.repository, REPOSITORIES.get(repository));
      assert.equal(result.name, name);
      assert.equal(result.namespace, namespace);
    });
  }

  const unknown: ReadonlyArray<readonly [string, RouteQuery, string | undefined]> = [
    ["a bound repository that does not exist", { boundRepository: "gone", name: "x" }, "all"],
    ["an ns no repository proxies", { name: "library/busybox", ns: "registry.example" }, "all"],
    [
      "on a bound listener, an ns proxied only outside its repository",
      { boundRepository: "all", name: "x", ns: "ghcr.io" },
      "all",
    ],
    ["on a hosted listener, any ns", { boundRepository: "private", name: "x", ns: "docker.io" }, "all"],
    ["no prefix and no default", { name: "library/busybox" }, undefined],
    ["a default that does not exist", { name: "library/busybox" }, "gone"],
  ];
  for (const [why, query, defaultRepository] of unknown) {
    test(`${why} is NAME_UNKNOWN`, () => {
      const error = assertThrowsOci(() => router(defaultRepository).resolve(query), "NAME_UNKNOWN", 404);
      assert.ok(error instanceof OciError);
    });
  }

  test("a prefix still routes when there is no default", () => {
    const result = router(undefined).resolve({ name: "ghcr/owner/image" });
    assert.equal(result.repository, REPOSITORIES.get("ghcr"));
    assert.equal(result.name, "owner/image");
  });
});

describe("RepositoryRouter accessors", () => {
  test("expose the repositories and the default", () => {
    const r = router("all");
    assert.equal(r.repositories, REPOSITORIES);
    assert.equal(r.repository("ghcr"), REPOSITORIES.get("ghcr"));
    assert.equal(r.repository("gone"), undefined);
    assert.equal(r.defaultRepository, REPOSITORIES.get("all"));
    assert.equal(router(undefined).defaultRepository, undefined);
  });
});
