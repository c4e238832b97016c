// Issue 4, point 1: the clients sites use log in to wharf through its token protocol, and are
// refused where the rules say so: podman login, skopeo --creds/--src-creds/--dest-creds,
// ctr --user (with a hosts.toml pointing at wharf; ctr uses the POST password grant), and
// docker login against a private dockerd.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { basicAuthorization } from "../harness/auth/bearer.js";
import { DENIED, UNAUTHORIZED } from "../harness/auth/refusals.js";
import { assertNoSecretInFiles } from "../harness/auth/secrets.js";
import {
  type Containerd,
  type Dockerd,
  podmanPull,
  podmanPush,
  type RegistryHosts,
  skopeoCopy,
  startContainerd,
  startDockerd,
} from "../harness/clients/index.js";
import { type AuthFixture, startAuthFixture, uniquePassword } from "../harness/fixtures/auth.js";
import { withProxy } from "../harness/fixtures/proxy.js";
import { ACCEPT_MANIFESTS, rawRequest, sha256 } from "../harness/http/requests.js";
import { attemptPush, pushImage } from "../harness/images/push.js";
import { expectedContent, getImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import type { Credentials } from "../harness/types.js";
import { addUser } from "../harness/wharf/users.js";

/** hosts.toml sending `registry` to wharf alone (as host and as server: nothing falls back past it). */
function onlyThrough(registry: string, wharfUrl: string): Record<string, RegistryHosts> {
  return { [registry]: { server: wharfUrl, hosts: [{ url: wharfUrl, capabilities: ["pull", "resolve"] }] } };
}

describe("real clients log in to wharf and are refused", () => {
  const small = getImage("small");
  let fx: AuthFixture;
  let containerd: Containerd;
  let dockerd: Dockerd;
  let host: string;
  const wrong = (creds: Credentials) => ({ username: creds.username, password: `${creds.password}-wrong` });

  before(async () => {
    [fx, containerd, dockerd] = await Promise.all([startAuthFixture(), startContainerd(), startDockerd()]);
    host = fx.wharf.host;
  });
  after(async () => {
    await Promise.all([containerd?.stop(), dockerd?.stop()]);
    await fx?.close();
  });

  /** What the admin gets for `name:tag`: 404 after a refused push. */
  async function adminStatus(name: string, tag: string): Promise<number> {
    const res = await rawRequest(fx.wharf.url, `/v2/${name}/manifests/${tag}`, {
      method: "HEAD",
      headers: { authorization: basicAuthorization(fx.users.admin), accept: ACCEPT_MANIFESTS },
    });
    return res.status;
  }

  /** The manifest digest wharf serves for `name:tag`, read as admin. */
  async function servedDigest(name: string, tag: string): Promise<string> {
    const res = await rawRequest(fx.wharf.url, `/v2/${name}/manifests/${tag}`, {
      headers: { authorization: basicAuthorization(fx.users.admin), accept: ACCEPT_MANIFESTS },
    });
    assert.equal(res.status, 200, res.body.toString());
    return sha256(res.body);
  }

  test("podman login, then push (bob) and pull back (alice)", async () => {
    const pushed = await podmanPush(getImage("small-v2").ref, `${host}/internal/team/podman:1`, {
      login: fx.users.bob,
    });
    assert.equal(await servedDigest("internal/team/podman", "1"), pushed.digest);
    const pulled = await podmanPull(`${host}/internal/team/podman:1`, {
      login: fx.users.alice,
      tlsVerify: false,
    });
    assert.deepEqual({ digest: pulled.digest, id: pulled.id }, { digest: pushed.digest, id: pushed.id });
  });

  test("podman refused: a wrong password at login, a push alice may not make, an anonymous pull of a hosted image", async () => {
    const ref = `${host}/internal/team/app:v1`;
    await assert.rejects(podmanPull(ref, { login: wrong(fx.users.bob), tlsVerify: false }), UNAUTHORIZED);
    await assert.rejects(
      podmanPush(small.ref, `${host}/internal/team/podman-alice:1`, { login: fx.users.alice }),
      DENIED,
    );
    assert.equal(await adminStatus("internal/team/podman-alice", "1"), 404, "nothing of the refused push");
    await assert.rejects(podmanPull(ref, { tlsVerify: false }), UNAUTHORIZED);
    assert.equal(
      (await podmanPull(`${host}/hub/lib/app:v1`, { tlsVerify: false })).digest,
      small.digest,
      "anonymous proxy pull",
    );
  });

  test("skopeo: --dest-creds pushes, --creds inspects, --src-creds pulls byte-exact", async () => {
    const docker = getImage("docker");
    await pushImage(docker, { host, creds: fx.users.bob }, "internal/team/skopeo:1");
    const pulled = await skopeoCopy(`${host}/internal/team/skopeo:1`, makeTempDir("pull"), {
      creds: fx.users.alice,
    });
    assert.deepEqual(pulled.content, expectedContent(docker));
  });

  test("skopeo refused: no credentials, a wrong password, a push alice may not make, secret for alice", async () => {
    const ref = `${host}/internal/team/app:v1`;
    await assert.rejects(skopeoCopy(ref, makeTempDir("pull")), UNAUTHORIZED);
    await assert.rejects(
      skopeoCopy(ref, makeTempDir("pull"), { creds: wrong(fx.users.alice) }),
      UNAUTHORIZED,
    );
    const push = await attemptPush(small, { host, creds: fx.users.alice }, "internal/team/skopeo-alice:1");
    assert.notEqual(push.code, 0, "a push alice may not make");
    assert.match(push.stderr, DENIED);
    assert.equal(await adminStatus("internal/team/skopeo-alice", "1"), 404, "nothing of the refused push");
    await pushImage(small, { host, creds: fx.users.carol }, "secret/skopeo:1");
    await assert.rejects(
      skopeoCopy(`${host}/secret/skopeo:1`, makeTempDir("pull"), { creds: fx.users.alice }),
      DENIED,
    );
    const anonymous = await skopeoCopy(`${host}/hub/lib/app:v1`, makeTempDir("pull"));
    assert.deepEqual(anonymous.content, expectedContent(small), "anonymous proxy pull");
  });

  describe("ctr images pull --user, with a hosts.toml that sends the registry to wharf", () => {
    const hosts = () => onlyThrough(host, fx.wharf.url);

    test("bob pulls a hosted image", async () => {
      const r = await containerd.pull(`${host}/internal/team/app:v1`, {
        hosts: hosts(),
        creds: fx.users.bob,
      });
      assert.equal(r.digest, small.digest);
      const stored = new Set(r.content.map((c) => c.digest));
      for (const blob of small.blobs) assert.ok(stored.has(blob.digest), blob.digest);
    });

    test("refused: a wrong password, no credentials; anonymous pulls only the public proxy", async () => {
      const ref = `${host}/internal/team/app:v1`;
      await assert.rejects(
        containerd.pull(ref, { hosts: hosts(), creds: wrong(fx.users.bob) }),
        UNAUTHORIZED,
      );
      await assert.rejects(containerd.pull(ref, { hosts: hosts() }), UNAUTHORIZED);
      assert.equal(
        (await containerd.pull(`${host}/hub/lib/app:v1`, { hosts: hosts() })).digest,
        small.digest,
      );
    });
  });

  describe("docker login against the private dockerd", () => {
    test("bob logs in, pulls a hosted image, tags and pushes it", async () => {
      await dockerd.login(host, fx.users.bob);
      const pulled = await dockerd.pull(`${host}/internal/team/app:v1`);
      assert.equal(pulled.digest, small.digest);
      await dockerd.tag(`${host}/internal/team/app:v1`, `${host}/internal/team/docker:1`);
      const pushed = await dockerd.push(`${host}/internal/team/docker:1`);
      assert.equal(await servedDigest("internal/team/docker", "1"), pushed);
    });

    test("refused: a wrong password at login; alice's push; an anonymous pull of a hosted image", async () => {
      await assert.rejects(dockerd.login(host, wrong(fx.users.bob)), UNAUTHORIZED);
      await dockerd.login(host, fx.users.alice);
      await dockerd.tag(`${host}/internal/team/app:v1`, `${host}/internal/team/docker-alice:1`);
      await assert.rejects(dockerd.push(`${host}/internal/team/docker-alice:1`), DENIED);
      assert.equal(await adminStatus("internal/team/docker-alice", "1"), 404, "nothing of the refused push");
      await dockerd.logout(host);
      await assert.rejects(dockerd.pull(`${host}/internal/team/app:v1`), UNAUTHORIZED);
    });
  });

  test("no password or token appears in any log line", () => {
    assertNoSecretInFiles(fx.logFiles(), fx.secrets);
  });
});

describe("ctr --user with wharf as the mirror of an upstream registry (hosts.toml, `?ns=`)", () => {
  test("a user the rules let pull the proxy gets the image, whatever the default repository holds", async () => {
    // the default repository is the hosted one, which alice may not read; `?ns=` picks the proxy,
    // which she may: her token must be good for the repository the request is routed to
    const [fx, containerd] = await Promise.all([
      withProxy({
        upstream: { auth: "none", images: [{ image: getImage("small"), ref: "lib/app:v1" }] },
        wharf: {
          config: ({ url }) => ({
            default_repository: "internal",
            auth: { rules: [{ repositories: ["hub"], authenticated: ["pull"] }] },
            repositories: { hub: { type: "proxy", upstream: { url } }, internal: { type: "hosted" } },
          }),
          env: { WHARF_ADMIN_PASSWORD: uniquePassword("admin") },
        },
      }),
      startContainerd(),
    ]);
    try {
      const { upstream: up, wharf } = fx;
      const alice = { username: "alice", password: uniquePassword("alice") };
      await addUser(wharf, alice.username, alice.password);
      // the upstream is never tried itself: a pull that works went through wharf
      const hosts = onlyThrough(up.host, wharf.url);
      const pulled = await containerd.pull(`${up.host}/lib/app:v1`, { hosts, creds: alice });
      assert.equal(pulled.digest, getImage("small").digest);
    } finally {
      await containerd.stop();
      await fx.close();
    }
  });
});
