// Issue 3, case 1: the seed's Nexus set-up (examples/nexus-seed.yaml, re-pointed at a local "Docker
// Hub") takes pushes from skopeo and podman straight into the hosted repository, through the
// group by path prefix and through the group's connector port, and gives the pushed images back
// byte-exact through the group, the connector port and the path prefix, to skopeo, podman and ctr;
// dockerd and podman set up as the seed sets them up (a docker.io mirror at :8181) pull through it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import {
  type Containerd,
  dockerdPull,
  dockerHubMirror,
  type PodmanPushResult,
  podmanPull,
  podmanPush,
  skopeoCopy,
  startContainerd,
} from "../harness/clients/index.js";
import { ACCEPT_MANIFESTS, rawRequest, sha256 } from "../harness/http/requests.js";
import { pushImage } from "../harness/images/push.js";
import { allDigests, expectedContent, getImage, type TestImage } from "../harness/images/test-images.js";
import { freePort } from "../harness/system/ports.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { exampleConfig } from "../harness/wharf/examples.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

describe("pushes into the hosted repository of the Nexus set-up, pulls back through every route", () => {
  let up: Upstream;
  let wharf: Wharf;
  let containerd: Containerd;
  /** The group's connector: 127.0.0.1:PORT standing in for Nexus' :8181. */
  let connector: string;
  const small = getImage("small");
  const smallV2 = getImage("small-v2");
  const docker = getImage("docker");
  const multi = getImage("multi");

  before(async () => {
    up = await startUpstream({ auth: "token" });
    const port = await freePort();
    connector = `127.0.0.1:${port}`;
    const config = exampleConfig("nexus-seed.yaml");
    const hub = config.repositories["docker-hub"];
    const group = config.repositories["docker-all"];
    assert.ok(hub && group, "nexus-seed.yaml declares docker-hub and docker-all");
    hub.upstream = { ...(hub.upstream as object), url: up.url };
    group.port = port;
    wharf = await startWharf({
      configYaml: YAML.stringify(config),
      // the example reads the Docker Hub account from the environment
      env: { DOCKERHUB_USER: up.creds.username, DOCKERHUB_TOKEN: up.creds.password },
    });
    containerd = await startContainerd();
  });
  after(async () => {
    await containerd?.stop();
    await wharf?.close();
    await up?.close();
  });

  /** skopeo copies `ref` back and must get exactly the image that was pushed. */
  async function skopeoGetsBack(ref: string, image: TestImage, all = false): Promise<void> {
    const r = await skopeoCopy(ref, makeTempDir("pull"), { all });
    assert.deepEqual(r.content, expectedContent(image, { all }), ref);
  }

  /** The manifest is in docker-internal itself (a push through the group landed there). */
  async function inHostedMember(name: string, tag: string, digest: string): Promise<void> {
    const res = await rawRequest(wharf.url, `/v2/docker-internal/${name}/manifests/${tag}`, {
      headers: { accept: ACCEPT_MANIFESTS },
    });
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(sha256(res.body), digest);
  }

  test("skopeo copy into docker-internal (OCI): back through the group prefix, the connector, the default repository and ctr", async () => {
    await pushImage(small, { host: wharf.host }, "docker-internal/team/small:1");
    await skopeoGetsBack(`${wharf.host}/docker-all/team/small:1`, small);
    await skopeoGetsBack(`${connector}/team/small:1`, small);
    await skopeoGetsBack(`${wharf.host}/team/small:1`, small);
    const r = await containerd.pull(`${connector}/team/small:1`, { plainHttp: true });
    assert.equal(r.digest, small.digest);
    const stored = new Set(r.content.map((c) => c.digest));
    for (const digest of allDigests(expectedContent(small))) assert.ok(stored.has(digest), digest);
  });

  test("skopeo copy through the group's path prefix lands in docker-internal (Docker schema 2); podman pulls it from the connector", async () => {
    await pushImage(docker, { host: wharf.host }, "docker-all/team/docker:1");
    await inHostedMember("team/docker", "1", docker.digest);
    const p = await podmanPull(`${connector}/team/docker:1`, { tlsVerify: false });
    assert.equal(p.digest, docker.digest);
    assert.equal(`sha256:${p.id}`, docker.manifests[0]?.config.digest);
    await skopeoGetsBack(`${wharf.host}/docker-internal/team/docker:1`, docker);
  });

  test("skopeo copy --all of a multi-arch index through the connector port: whole index back, ctr gets its platform", async () => {
    await pushImage(multi, { host: connector }, "team/multi:1", { all: true });
    await inHostedMember("team/multi", "1", multi.digest);
    await skopeoGetsBack(`${wharf.host}/docker-all/team/multi:1`, multi, true);
    await skopeoGetsBack(`${connector}/team/multi:1`, multi, true);
    const r = await containerd.pull(`${connector}/team/multi:1`, { plainHttp: true });
    assert.equal(r.digest, multi.digest);
    const stored = new Set(r.content.map((c) => c.digest));
    for (const digest of [multi.digest, ...allDigests(expectedContent(multi))]) assert.ok(stored.has(digest));
  });

  test("the seed's clients: dockerd's registry-mirrors and podman's docker.io mirror at the connector get Hub and site images", async () => {
    await pushImage(docker, up, "library/docker:latest");
    await pushImage(small, { host: wharf.host }, "docker-internal/team/seed:1");
    const connectorUrl = `http://${connector}`;
    const hub = await dockerdPull("docker", { mirrors: [connectorUrl] });
    assert.equal(hub.digest, docker.digest, "a Docker Hub image, through docker-hub");
    assert.equal(hub.id, docker.manifests[0]?.config.digest);
    const site = await podmanPull("docker.io/team/seed:1", { registriesConf: dockerHubMirror(connector) });
    assert.equal(site.digest, small.digest, "the site's own image, from docker-internal");
    const viaPodman = await podmanPull("docker", { registriesConf: dockerHubMirror(connector) });
    assert.equal(viaPodman.digest, docker.digest);
  });

  /** What podman pushed, pulled back by skopeo: the same manifest, the same config, blobs that hash right. */
  async function podmanPushGetsBack(ref: string, pushed: PodmanPushResult, image: TestImage): Promise<void> {
    const r = await skopeoCopy(ref, makeTempDir("pull"));
    assert.equal(r.content.digest, pushed.digest, ref);
    const blobs = r.content.blobs.map((b) => b.digest);
    assert.ok(blobs.includes(`sha256:${pushed.id}`), `${ref}: config ${pushed.id} in ${blobs.join(" ")}`);
    assert.equal(blobs.length, expectedContent(image).blobs.length, `${ref}: config and every layer`);
  }

  test("podman push straight in, through the group prefix and through the connector; pulled back by skopeo and podman", async () => {
    const direct = await podmanPush(smallV2.ref, `${wharf.host}/docker-internal/team/podman:1`);
    const viaGroup = await podmanPush(docker.ref, `${wharf.host}/docker-all/team/podman-group:1`);
    const viaConnector = await podmanPush(small.ref, `${connector}/team/podman-connector:1`);
    await inHostedMember("team/podman-group", "1", viaGroup.digest);
    await inHostedMember("team/podman-connector", "1", viaConnector.digest);
    await podmanPushGetsBack(`${wharf.host}/docker-all/team/podman:1`, direct, smallV2);
    await podmanPushGetsBack(`${connector}/team/podman-group:1`, viaGroup, docker);
    await podmanPushGetsBack(`${wharf.host}/docker-all/team/podman-connector:1`, viaConnector, small);
    const p = await podmanPull(`${connector}/team/podman:1`, { tlsVerify: false });
    assert.deepEqual({ digest: p.digest, id: p.id }, { digest: direct.digest, id: direct.id });
  });
});
