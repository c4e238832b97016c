// Issue 3, case 2: one wharf proxying three registries (token auth behind a rate-limiting front,
// basic auth, anonymous) that all hold an image of the same name with different content. ctr
// reaches two of them through wharf by containerd's ?ns=, podman by a mirror per registry with a
// path prefix; each proxy keeps its own tag TTL and its own rate-limit state.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import { type Containerd, podmanPull, registriesConf, startContainerd } from "../harness/clients/index.js";
import { ACCEPT_MANIFESTS, errorCodes, rawRequest } from "../harness/http/requests.js";
import { getImage } from "../harness/images/test-images.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { type FaultProxy, startFaultProxy } from "../harness/upstream/fault-proxy.js";
import { requestsTo } from "../harness/wharf/log.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

interface RepositoryStatus {
  name: string;
  upstream?: { url: string; rateLimit: { limit?: number; remaining?: number; backoffUntil?: string } };
}

const MANIFEST = /\/manifests\//;
const LIMIT = 50;

describe("several proxy repositories in one wharf, each with its own upstream", () => {
  let tokenUp: Upstream;
  let basicUp: Upstream;
  let anonUp: Upstream;
  /** Rate-limiting front of tokenUp: the token-auth registry's name is this proxy's host:port. */
  let front: FaultProxy;
  let wharf: Wharf;
  let containerd: Containerd;
  const small = getImage("small");
  const docker = getImage("docker");
  const smallV2 = getImage("small-v2");
  const many = getImage("many");
  const manifest = (path: string) => rawRequest(wharf.url, path, { headers: { accept: ACCEPT_MANIFESTS } });

  before(async () => {
    // one name, three different images: a request routed to the wrong upstream shows
    [tokenUp, basicUp, anonUp] = await Promise.all([
      startUpstream({
        auth: "token",
        images: [
          { image: small, ref: "team/app:1" },
          { image: many, ref: "team/later:1" },
        ],
      }),
      startUpstream({ auth: "basic", images: [{ image: docker, ref: "team/app:1" }] }),
      startUpstream({
        auth: "none",
        images: [
          { image: smallV2, ref: "team/app:1" },
          { image: small, ref: "team/later:1" },
        ],
      }),
    ]);
    front = await startFaultProxy({ target: tokenUp.url, mode: "ratelimit", limit: LIMIT });
    const creds = (up: Upstream) => ({ username: up.creds.username, password: up.creds.password });
    const config = {
      repositories: {
        "token-hub": { type: "proxy", upstream: { url: front.url, ...creds(tokenUp) }, tag_ttl: "0" },
        "basic-reg": { type: "proxy", upstream: { url: basicUp.url, ...creds(basicUp) }, tag_ttl: "1h" },
        "anon-reg": { type: "proxy", upstream: { url: anonUp.url }, tag_ttl: "1h" },
      },
    };
    // the default, authentication on: anonymous clients pull what proxies cache
    wharf = await startWharf({ configYaml: YAML.stringify(config), secured: true });
    containerd = await startContainerd();
  });
  after(async () => {
    await containerd?.stop();
    await wharf?.close();
    await front?.close();
    await Promise.all([tokenUp?.close(), basicUp?.close(), anonUp?.close()]);
  });

  /** The ns values of the requests wharf routed to `repo`. */
  const namespacesSeen = (repo: string) =>
    requestsTo(wharf, repo)
      .map((r) => r.ns)
      .filter((ns) => ns !== "");

  async function status(): Promise<Map<string, RepositoryStatus>> {
    const res = await rawRequest(wharf.url, "/api/status");
    assert.equal(res.status, 200);
    const body = JSON.parse(res.body.toString()) as { repositories: RepositoryStatus[] };
    return new Map(body.repositories.map((r) => [r.name, r]));
  }

  test("ctr pulls from two registries through one wharf, routed by ?ns= (hosts.toml per registry)", async () => {
    // server stays https://<registry>: a plain-HTTP upstream cannot answer it, so only wharf can
    const viaWharf = { hosts: [{ url: wharf.url }] };
    const hosts = { [front.host]: viaWharf, [basicUp.host]: viaWharf };
    const a = await containerd.pull(`${front.host}/team/app:1`, { hosts });
    assert.equal(a.digest, small.digest);
    const b = await containerd.pull(`${basicUp.host}/team/app:1`, { hosts });
    assert.equal(b.digest, docker.digest);
    const stored = new Set(a.content.concat(b.content).map((c) => c.digest));
    for (const blob of [...small.blobs, ...docker.blobs]) assert.ok(stored.has(blob.digest), blob.digest);
    for (const [repo, registry] of [
      ["token-hub", front.host],
      ["basic-reg", basicUp.host],
    ] as const) {
      const seen = namespacesSeen(repo);
      assert.ok(seen.length > 0 && seen.every((ns) => ns === registry), `${repo} got ns=${seen.join(", ")}`);
    }
  });

  test("?ns= picks the proxy of that registry and answers OCI-Namespace; an unproxied registry is 404", async () => {
    const res = await manifest(`/v2/team/app/manifests/1?ns=${anonUp.host}`);
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.headers["docker-content-digest"], smallV2.digest);
    assert.equal(res.headers["oci-namespace"], anonUp.host);
    for (const ns of ["quay.io", "docker.io", "127.0.0.1:1"]) {
      const refused = await manifest(`/v2/team/app/manifests/1?ns=${ns}`);
      assert.equal(refused.status, 404, `ns=${ns}: ${refused.body.toString()}`);
      assert.deepEqual(errorCodes(refused.body), ["NAME_UNKNOWN"], ns);
    }
    // a name only the token registry has is not found in the anonymous one's proxy
    const elsewhere = await manifest(`/v2/team/later/manifests/1?ns=${basicUp.host}`);
    assert.equal(elsewhere.status, 404, elsewhere.body.toString());
  });

  test("podman with a mirror per registry (HOST/<repository> locations) gets each registry's own image", async () => {
    const mark = wharf.logMark();
    const conf = registriesConf([
      { prefix: basicUp.host, mirrors: [`${wharf.host}/basic-reg`] },
      { prefix: anonUp.host, mirrors: [`${wharf.host}/anon-reg`] },
    ]);
    const b = await podmanPull(`${basicUp.host}/team/app:1`, { registriesConf: conf });
    assert.equal(b.digest, docker.digest);
    const c = await podmanPull(`${anonUp.host}/team/app:1`, { registriesConf: conf });
    assert.equal(c.digest, smallV2.digest);
    const served = wharf.logLines(mark).filter((l) => l.msg === "request" && l.status === 200);
    assert.ok(
      served.some((l) => l.repo === "anon-reg" && String(l.path).startsWith("/v2/anon-reg/team/app/")),
    );
  });

  test("each proxy keeps its own tag TTL: 0 revalidates every time, 1h asks nobody", async () => {
    const mark = { token: tokenUp.mark(), basic: basicUp.mark() };
    for (let i = 0; i < 3; i++) {
      assert.equal((await manifest("/v2/token-hub/team/app/manifests/1")).status, 200);
      assert.equal((await manifest("/v2/basic-reg/team/app/manifests/1")).status, 200);
    }
    await Promise.all([tokenUp.settle(), basicUp.settle()]);
    // tag_ttl 0: each GET revalidates with one HEAD, which finds the digest unchanged (no GET)
    const tokenAsked = tokenUp.requests(mark.token).filter((e) => MANIFEST.test(e.path));
    assert.deepEqual(
      tokenAsked.map((e) => e.method),
      ["HEAD", "HEAD", "HEAD"],
      "tag_ttl 0: one HEAD upstream for each of the 3 GETs",
    );
    assert.equal(basicUp.count({ pathRegex: MANIFEST, since: mark.basic }), 0, "tag_ttl 1h: none");
  });

  test("each proxy keeps its own rate-limit state: a 429 on one stops only that one", async () => {
    const before = await status();
    const limited = before.get("token-hub")?.upstream?.rateLimit;
    assert.equal(limited?.limit, LIMIT, JSON.stringify(limited));
    assert.equal(limited?.remaining, LIMIT - front.stats().rateCounted);
    for (const other of ["basic-reg", "anon-reg"])
      assert.deepEqual(before.get(other)?.upstream?.rateLimit, {}, `${other} saw no rate-limit headers`);
    front.setMode("429");
    const refused = await manifest("/v2/token-hub/team/later/manifests/1");
    assert.equal(refused.status, 429, refused.body.toString());
    const after = await status();
    const backoff = after.get("token-hub")?.upstream?.rateLimit.backoffUntil;
    assert.ok(backoff && Date.parse(backoff) > Date.now(), JSON.stringify(after.get("token-hub")));
    for (const other of ["basic-reg", "anon-reg"])
      assert.equal(after.get(other)?.upstream?.rateLimit.backoffUntil, undefined, other);
    // uncached content of another upstream still comes through while token-hub backs off
    const other = await manifest(`/v2/team/later/manifests/1?ns=${anonUp.host}`);
    assert.equal(other.status, 200, other.body.toString());
    assert.equal(other.headers["docker-content-digest"], small.digest);
  });
});
