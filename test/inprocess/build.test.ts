// Repositories built from configuration, seen only through the Repository interface: what each
// describes of itself (for /api/status and the admin API), the registry hosts `?ns=` may name, and
// where a group's pushes go. No request leaves the process: nothing here reads content.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Agent } from "undici";
import { configSchema } from "../../src/config/schema.js";
import { LocalCoordination } from "../../src/coordination/coordination.js";
import { DOCKER_HUB_HOSTS } from "../../src/oci/docker-hub.js";
import { buildRepositories, buildRouter } from "../../src/repos/build.js";
import { world } from "./fixture.js";

const CONFIG = configSchema.parse({
  repositories: {
    hub: { type: "proxy", upstream: { url: "https://ci:secret@registry-1.docker.io" }, tag_ttl: "5m" },
    ghcr: { type: "proxy", upstream: { url: "https://ghcr.io" } },
    first: { type: "hosted" },
    second: { type: "hosted", allow_delete: false },
    all: { type: "group", members: ["hub", "first", "second"] },
    chosen: { type: "group", members: ["first", "second"], push_to: "second" },
    proxies: { type: "group", members: ["hub", "ghcr"] },
  },
});

async function built(t: Parameters<typeof world>[0]) {
  const w = await world(t);
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const stores = { dataDir: "", coordination: new LocalCoordination("test"), ...w };
  return buildRepositories(CONFIG, {
    stores,
    dispatcher,
    logger: w.logger,
    upstreams: { exchange: () => {}, rateLimit: () => {} },
  });
}

test("each repository describes itself; a proxy's upstream URL carries no credentials", async (t) => {
  const repositories = await built(t);
  const described = await Promise.all([...repositories.values()].map((repository) => repository.describe()));
  assert.deepEqual(described, [
    {
      type: "proxy",
      name: "hub",
      upstream: {
        url: "https://registry-1.docker.io",
        registryHosts: ["registry-1.docker.io", ...DOCKER_HUB_HOSTS],
        libraryPrefix: true,
        tagTtlMs: 300_000,
        rateLimit: {},
        tokenRequests: 0,
      },
    },
    {
      type: "proxy",
      name: "ghcr",
      upstream: {
        url: "https://ghcr.io",
        registryHosts: ["ghcr.io"],
        libraryPrefix: false,
        tagTtlMs: 60_000,
        rateLimit: {},
        tokenRequests: 0,
      },
    },
    { type: "hosted", name: "first", allowDelete: true },
    { type: "hosted", name: "second", allowDelete: false },
    { type: "group", name: "all", members: ["hub", "first", "second"], pushTo: "first" },
    { type: "group", name: "chosen", members: ["first", "second"], pushTo: "second" },
    { type: "group", name: "proxies", members: ["hub", "ghcr"], pushTo: undefined },
  ]);
  assert.doesNotMatch(JSON.stringify(described), /secret/);
});

test("a group's pushes go to push_to, by default its first hosted member; only proxies answer for ?ns=", async (t) => {
  const repositories = await built(t);
  assert.equal(repositories.get("all")?.writer, repositories.get("first"));
  assert.equal(repositories.get("chosen")?.writer, repositories.get("second"));
  assert.equal(repositories.get("proxies")?.writer, undefined);
  assert.deepEqual(
    [...repositories].filter(([, repository]) => repository.registryHosts.length > 0).map(([name]) => name),
    ["hub", "ghcr"],
  );
});

test("the router built from them sends ?ns= to the proxy of that registry", async (t) => {
  const w = await world(t);
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const router = buildRouter(CONFIG, {
    stores: { dataDir: "", coordination: new LocalCoordination("test"), ...w },
    dispatcher,
    logger: w.logger,
    upstreams: { exchange: () => {}, rateLimit: () => {} },
  });
  assert.equal(router.resolve({ name: "x", ns: "docker.io" }).repository.name, "hub");
  assert.equal(router.resolve({ name: "x", ns: "ghcr.io" }).repository.name, "ghcr");
  assert.equal(
    router.resolve({ boundRepository: "proxies", name: "x", ns: "ghcr.io" }).repository.name,
    "ghcr",
  );
  assert.throws(() => router.resolve({ boundRepository: "chosen", name: "x", ns: "ghcr.io" }));
});
