// Issue 4, point 4: with a `tls` section every listener speaks HTTPS with the configured
// certificate, and a replaced certificate is served without a restart. The test makes its own CA;
// skopeo, podman and ctr trust it the way each is told to (--src-cert-dir / --cert-dir with
// registries.conf insecure=false / hosts.toml `ca = …`) and pull byte-exact from a proxy
// repository (a docker-registry upstream) and from a hosted one after a skopeo push over TLS. A
// client without the CA and a plain-HTTP request are refused. The files are then replaced by a new
// pair while a download runs, by garbage, and by a good pair again.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import YAML from "yaml";
import {
  type Containerd,
  type CtrPullOptions,
  podmanPull,
  registriesConf,
  skopeoCopy,
  startContainerd,
} from "../harness/clients/index.js";
import {
  type IssuedCert,
  issueServerCert,
  makeTestCa,
  servedCertificate,
  type TestCa,
} from "../harness/http/certs.js";
import { rawRequest, streamGet } from "../harness/http/requests.js";
import { pushImage } from "../harness/images/push.js";
import { allDigests, expectedContent, getImage, type TestImage } from "../harness/images/test-images.js";
import { freePort } from "../harness/system/ports.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { clientConfigFiles, runWharfCli } from "../harness/wharf/cli.js";
import { requestsTo } from "../harness/wharf/log.js";
import { startWharf, type Wharf, type WharfLogLine } from "../harness/wharf/start.js";

const SANS = ["IP:127.0.0.1", "DNS:localhost"];

describe("HTTPS on every listener, with a certificate replaced while wharf runs", () => {
  const dir = makeTempDir("tls");
  /** The directory of the files the configuration names; pairs are renamed into it. */
  const served = path.join(dir, "served");
  const certFile = path.join(served, "server.crt");
  const keyFile = path.join(served, "server.key");
  let ca: TestCa;
  let first: IssuedCert;
  let up: Upstream;
  let wharf: Wharf;
  let containerd: Containerd;
  /** 127.0.0.1:PORT of the listener bound to the hosted repository. */
  let connector: string;
  const small = getImage("small");
  const docker = getImage("docker");
  const big = getImage("big");

  /** Replaces a served file the way cert-manager and `mv` do: a new file renamed over the old one. */
  function replace(target: string, content: Buffer): void {
    const next = `${target}.next`;
    fs.writeFileSync(next, content);
    fs.renameSync(next, target);
  }
  function install(pair: IssuedCert): void {
    replace(keyFile, fs.readFileSync(pair.keyPath));
    replace(certFile, fs.readFileSync(pair.certPath));
  }
  const logged = (msg: string) => (line: WharfLogLine) => line.msg === msg;
  const servingSerial = async (hostPort: string) => {
    const port = Number(hostPort.slice(hostPort.lastIndexOf(":") + 1));
    return (await servedCertificate("127.0.0.1", port, ca.pem)).serialNumber;
  };
  const skopeoWithCa = (ref: string) =>
    skopeoCopy(ref, makeTempDir("pull"), { certDir: ca.certDir, tlsVerify: true });

  before(async () => {
    ca = await makeTestCa(dir);
    first = await issueServerCert(ca, dir, "wharf-1", SANS);
    fs.mkdirSync(served);
    install(first);
    up = await startUpstream({ auth: "none" });
    await Promise.all([pushImage(small, up, "team/app:1"), pushImage(big, up, "team/big:1")]);
    const port = await freePort();
    connector = `127.0.0.1:${port}`;
    const config = {
      tls: { cert: certFile, key: keyFile },
      repositories: {
        hub: { type: "proxy", upstream: { url: up.url } },
        internal: { type: "hosted", port },
      },
    };
    wharf = await startWharf({ configYaml: YAML.stringify(config), ca: ca.pem });
    await pushImage(docker, { host: wharf.host, certDir: ca.certDir }, "internal/team/pushed:1");
    containerd = await startContainerd();
  });
  after(async () => {
    await containerd?.stop();
    await wharf?.close();
    await up?.close();
  });

  test("both listeners present the configured certificate; its names and expiry are logged, the key never", async () => {
    assert.equal(await servingSerial(wharf.host), first.serial);
    assert.equal(await servingSerial(connector), first.serial);
    const listening = wharf.logLines().filter(logged("listening"));
    assert.deepEqual(
      listening.map((l) => l.tls),
      [true, true],
    );
    const start = await wharf.waitLog(logged("TLS certificate"));
    const certificate = start.certificate as { names: string[]; serial: string; notAfter: string };
    assert.deepEqual(certificate.names, ["IP Address:127.0.0.1", "DNS:localhost"]);
    assert.equal(certificate.serial, first.serial);
    assert.ok(Date.parse(certificate.notAfter) > Date.now());
    const key = fs.readFileSync(first.keyPath, "utf8").split("\n")[1] ?? "";
    const stdout = fs.readFileSync(path.join(wharf.dir, "wharf.stdout"), "utf8");
    assert.ok(
      key.length > 20 && !stdout.includes(key) && !stdout.includes("PRIVATE KEY"),
      "no key in the log",
    );
  });

  /** ctr's content store holds every blob of the image after a pull of `ref`. */
  async function ctrGot(ref: string, image: TestImage, hosts: CtrPullOptions): Promise<void> {
    const r = await containerd.pull(ref, hosts);
    assert.equal(r.digest, image.digest, ref);
    const stored = new Set(r.content.map((c) => c.digest));
    for (const digest of allDigests(expectedContent(image)))
      assert.ok(stored.has(digest), `${ref}: ${digest}`);
  }

  test("skopeo with --src-cert-dir pulls from the proxy and the pushed image from the hosted repository, byte-exact", async () => {
    assert.deepEqual((await skopeoWithCa(`${wharf.host}/hub/team/app:1`)).content, expectedContent(small));
    assert.deepEqual(
      (await skopeoWithCa(`${wharf.host}/internal/team/pushed:1`)).content,
      expectedContent(docker),
    );
    assert.deepEqual((await skopeoWithCa(`${connector}/team/pushed:1`)).content, expectedContent(docker));
  });

  test("podman with --cert-dir: directly from the hosted repository, and through a registries.conf mirror with insecure=false", async () => {
    const direct = await podmanPull(`${connector}/team/pushed:1`, { certDir: ca.certDir });
    assert.equal(direct.digest, docker.digest);
    assert.equal(`sha256:${direct.id}`, docker.manifests[0]?.config.digest);
    // The upstream itself speaks plain HTTP, which insecure=false forbids: only wharf can answer.
    const conf = registriesConf([{ prefix: up.host, mirrors: [`${wharf.host}/hub`], insecure: false }]);
    assert.match(conf, /insecure = false/);
    const mirrored = await podmanPull(`${up.host}/team/app:1`, { registriesConf: conf, certDir: ca.certDir });
    assert.equal(mirrored.digest, small.digest);
  });

  test("ctr with hosts.toml `ca = …`: the hosts.toml client-config prints for the proxy, and the hosted repository directly", async () => {
    const printed = await runWharfCli([
      "client-config",
      "--config",
      wharf.configPath ?? "",
      "--host",
      wharf.host,
    ]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stderr, "", "the certificate names 127.0.0.1: no warning");
    const files = clientConfigFiles(printed.stdout);
    const hostsToml = files.get(`/etc/containerd/certs.d/${up.host}/hosts.toml`) ?? "";
    assert.match(hostsToml, new RegExp(`\\[host\\."https://${wharf.host}"\\]`));
    const conf = files.get("/etc/containers/registries.conf.d/wharf.conf") ?? "";
    assert.doesNotMatch(conf, /insecure/);
    assert.ok(conf.includes(`/etc/containers/certs.d/${wharf.host}/ca.crt`), conf);
    // The printed `ca` line is a commented-out example; uncommented, it names this test's CA.
    const withCa = hostsToml.replace(/# ca = "[^"]*"/, `ca = "${ca.certPath}"`);
    assert.notEqual(withCa, hostsToml, hostsToml);
    await ctrGot(`${up.host}/team/app:1`, small, { hostsFiles: { [up.host]: withCa } });
    // The printed server line is the upstream itself: wharf's log shows ctr did not fall back to it.
    assert.ok(requestsTo(wharf, "hub").some((r) => r.ns === up.host && r.status === 200));

    const https = `https://${connector}`;
    await ctrGot(`${connector}/team/pushed:1`, docker, {
      hosts: { [connector]: { server: https, hosts: [{ url: https, ca: ca.certPath }] } },
    });
  });

  test("a client without the CA is refused with an x509 error; plain HTTP to the TLS port fails at once", async () => {
    await assert.rejects(
      skopeoCopy(`${wharf.host}/hub/team/app:1`, makeTempDir("pull"), { tlsVerify: true }),
      /x509: certificate signed by unknown authority/,
    );
    // hung up on, not left hanging: a hang would end in the request's own timeout, another error
    await assert.rejects(
      rawRequest(`http://${wharf.host}`, "/v2/", { timeoutMs: 15_000 }),
      /socket hang up|ECONNRESET/,
    );
    assert.equal((await rawRequest(wharf.url, "/v2/", { ca: ca.pem })).status, 200, "still serving");
  });

  test("config check reads the files: a good pair is described, a missing file and a foreign key are named", async () => {
    const good = await runWharfCli(["config", "check", wharf.configPath ?? ""]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(
      good.stdout,
      /HTTPS with a certificate for IP Address:127\.0\.0\.1, DNS:localhost, valid until 20/,
    );
    const other = await issueServerCert(ca, dir, "other", SANS);
    const check = async (tls: object) => {
      const file = path.join(dir, "check.yaml");
      fs.writeFileSync(file, YAML.stringify({ tls, repositories: { internal: { type: "hosted" } } }));
      return runWharfCli(["config", "check", file]);
    };
    const missing = await check({ cert: path.join(dir, "nowhere.crt"), key: keyFile });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /tls\.cert \(line 2\): cannot read \S+nowhere\.crt: no such file/);
    const foreign = await check({ cert: certFile, key: other.keyPath });
    assert.equal(foreign.code, 2);
    assert.match(foreign.stderr, /tls\.key \(line 3\): \S+other\.key is not the key of the certificate in/);
  });

  test("a new pair is served to new connections without a restart while a download in flight completes", async (t) => {
    const status = JSON.parse(
      (await rawRequest(wharf.url, "/api/status", { ca: ca.pem })).body.toString(),
    ) as {
      sendfile?: boolean;
    };
    if (status.sendfile !== true) t.diagnostic("sendfile addon not loaded: the warm TLS pull proves less");
    const pid = wharf.pid();
    const second = await issueServerCert(ca, dir, "wharf-2", SANS);
    const layer = big.manifests[0]!.layers[0]!;
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started!: () => void;
    const firstBytes = new Promise<void>((resolve) => {
      started = resolve;
    });
    let holding = false;
    const download = streamGet(wharf.url, `/v2/hub/team/big/blobs/${layer.digest}`, {
      ca: ca.pem,
      // The client stops reading after its first bytes and goes on once the certificate changed.
      onData: () => {
        if (holding) return;
        holding = true;
        started();
        return held;
      },
    });
    await Promise.race([firstBytes, download]);
    install(second);
    const reloaded = await wharf.waitLog(
      (l) => logged("TLS certificate reloaded")(l) && hasSerial(l, second.serial),
    );
    assert.deepEqual((reloaded.certificate as { names: string[] }).names, [
      "IP Address:127.0.0.1",
      "DNS:localhost",
    ]);
    assert.equal(await servingSerial(wharf.host), second.serial);
    assert.equal(await servingSerial(connector), second.serial);
    release();
    const body = await download;
    assert.deepEqual(
      [body.status, body.complete, body.bytes, body.digest],
      [200, true, layer.size, layer.digest],
    );
    // Warm and cold blobs alike over the new certificate: the layer above now comes from its file.
    assert.deepEqual((await skopeoWithCa(`${wharf.host}/hub/team/big:1`)).content, expectedContent(big));
    assert.equal(wharf.pid(), pid, "no restart");
  });

  test("a broken replacement is logged once and the previous certificate stays; a good one is taken again", async () => {
    const serving = await servingSerial(wharf.host);
    replace(certFile, Buffer.from("not a certificate\n"));
    const failed = (l: WharfLogLine) =>
      logged("cannot reload the TLS certificate; still serving the previous one")(l);
    const failure = await wharf.waitLog(failed);
    assert.equal(failure.file, certFile);
    assert.match(String(failure.problem), /holds no PEM certificate/);
    assert.equal(await servingSerial(wharf.host), serving);
    assert.deepEqual((await skopeoWithCa(`${connector}/team/pushed:1`)).content, expectedContent(docker));
    // More activity in the directory, none in the files: nothing new to say.
    fs.writeFileSync(path.join(served, "unrelated"), "x");
    await sleep(1000);
    assert.equal(wharf.logLines().filter(failed).length, 1);

    const third = await issueServerCert(ca, dir, "wharf-3", SANS);
    install(third);
    await wharf.waitLog((l) => logged("TLS certificate reloaded")(l) && hasSerial(l, third.serial));
    assert.equal(await servingSerial(wharf.host), third.serial);
  });
});

function hasSerial(line: WharfLogLine, serial: string): boolean {
  return (line.certificate as { serial?: string } | undefined)?.serial === serial;
}
