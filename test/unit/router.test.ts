import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { OciError } from "../../src/oci/errors.js";
import type { Repository } from "../../src/repos/repository.js";
import { DOCKER_HUB_HOSTS, RepositoryRouter, type RouteQuery } from "../../src/repos/router.js";
import { assertThrowsOci } from "./helpers.js";

/** A repository that only has a name: routing must never touch its content. */
function fakeRepository(name: string, kind: Repository["kind"]): Repository {
  const unused = (): Promise<never> => Promise.reject(new Error(`${name}: routing must not read content`));
  return {
    name,
    kind,
    statBlob: unused,
    openBlob: unused,
    getManifest: unused,
    listTags: unused,
    listReferrers: unused,
    listNames: unused,
  };
}

const REPOSITORIES: ReadonlyMap<string, Repository> = new Map(
  (
    [
      ["docker-hub", "proxy"],
      ["ghcr", "proxy"],
      ["quay-mirror", "proxy"],
      ["private", "hosted"],
      ["all", "group"],
    ] as const
  ).map(([name, kind]) => [name, fakeRepository(name, kind)]),
);

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
    ["a bound listener wins over everything", { boundRepository: "private", name: "docker-hub/x", ns: "docker.io" }, "private", "docker-hub/x"],
    ["ns picks the proxy of that registry", { name: "library/busybox", ns: "docker.io" }, "docker-hub", "library/busybox", "docker.io"],
    ["ns matches any of Docker Hub's hosts", { name: "x", ns: "registry-1.docker.io" }, "docker-hub", "x", "registry-1.docker.io"],
    ["ns is case-insensitive", { name: "x", ns: "Docker.IO" }, "docker-hub", "x", "Docker.IO"],
    ["configured hosts are case-insensitive", { name: "x", ns: "ghcr.io" }, "ghcr", "x", "ghcr.io"],
    ["the first proxy of a host wins", { name: "x", ns: "GHCR.IO" }, "ghcr", "x", "GHCR.IO"],
    ["ns wins over a path prefix", { name: "ghcr/owner/image", ns: "quay.io" }, "quay-mirror", "ghcr/owner/image", "quay.io"],
    ["an empty ns is ignored", { name: "ghcr/owner/image", ns: "" }, "ghcr", "owner/image"],
    ["a path prefix names the repository", { name: "ghcr/owner/image" }, "ghcr", "owner/image"],
    ["a prefix keeps deeper components", { name: "docker-hub/library/busybox" }, "docker-hub", "library/busybox"],
    ["an unknown prefix goes to the default with the whole name", { name: "library/busybox" }, "all", "library/busybox"],
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
