// Issue 4, point 3 (DESIGN invariant 5): alice may not read the hosted repository `secret` (only
// carol may), yet its blobs are deduplicated on disk with `internal/team/app`, which she may read.
// She tries every way around: directly, through the group `all`, through a mount into a name she
// may push to, the referrers API, the catalog and the tags list, each as a client would (token
// flow) and with Basic credentials. The private proxy `vendor` is readable only by the devs group;
// no upstream credential ever shows in an answer or a log.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import { basicAuthorization } from "../harness/auth/bearer.js";
import { assertNoSecretInFiles, Secrets } from "../harness/auth/secrets.js";
import { repositoryScope, tokenFlowRequest } from "../harness/auth/token-flow.js";
import {
  type AuthFixture,
  FIXTURE_RULES,
  proxyConfig,
  startAuthFixture,
  uniquePassword,
} from "../harness/fixtures/auth.js";
import { ACCEPT_MANIFESTS, errorCodes, type RawResponse, rawRequest } from "../harness/http/requests.js";
import { derivedImage } from "../harness/images/layered.js";
import { pushImage } from "../harness/images/push.js";
import { getImage } from "../harness/images/test-images.js";
import { makeTempDir, removeTempDir } from "../harness/system/tmp.js";
import type { Credentials } from "../harness/types.js";
import { startUpstream } from "../harness/upstream/docker-registry.js";
import { pushReferrer, type Referrer } from "../harness/upstream/registry-write.js";
import { runWharfCli } from "../harness/wharf/cli.js";
import { startWharf } from "../harness/wharf/start.js";

describe("content isolation: what alice may not read stays invisible", () => {
  const small = getImage("small");
  const secretOnly = derivedImage(small, "secret-only");
  /** A layer `secret` and `internal/team/app` share: stored once on disk. */
  const shared = small.manifests[0]?.layers[0]?.digest ?? "";
  /** The layer only `secret` holds. */
  const ownLayer =
    secretOnly.blobs.find((b) => !small.blobs.some((s) => s.digest === b.digest))?.digest ?? "";
  const misCreds = { username: "hub-robot", password: uniquePassword("wrong-upstream") };
  let fx: AuthFixture;
  let referrer: Referrer;
  /** Every answer wharf gave in this file, to look for upstream credentials in. */
  const answers: RawResponse[] = [];

  before(async () => {
    fx = await startAuthFixture({
      // a proxy whose upstream refuses wharf's credentials: where an error message could leak them
      extraRepositories: ({ hubUrl }) => ({ mis: proxyConfig(hubUrl, misCreds) }),
      rules: [...FIXTURE_RULES, { repositories: ["mis"], anonymous: ["pull"] }],
    });
    fx.secrets.addCredentials(misCreds);
    const carol = { host: fx.wharf.host, creds: fx.users.carol };
    await pushImage(small, carol, "secret/app:v1");
    await pushImage(secretOnly, carol, "secret/app:only");
    const subject = { mediaType: small.mediaType, digest: small.digest, size: small.size };
    referrer = await pushReferrer({ url: fx.wharf.url, creds: fx.users.carol }, "secret/app", "sig", subject);
    // bob's pull puts vendor/tool in the vendor proxy's cache, so the catalog could list it
    assert.equal((await as(fx.users.bob, "GET", "/v2/all/vendor/tool/manifests/1")).status, 200);
  });
  after(() => fx?.close());

  /** One request as `who` (undefined: anonymous) through the token flow, recorded. */
  async function as(who: Credentials | undefined, method: string, path: string, scopes?: string[]) {
    const name = /^\/v2\/(.+?)\/(?:manifests|blobs|tags|referrers)\//.exec(path)?.[1] ?? "";
    const res = await tokenFlowRequest(fx.wharf.url, path, {
      method,
      headers: { accept: ACCEPT_MANIFESTS },
      scopes: scopes ?? [
        name === "" ? "registry:catalog:*" : repositoryScope(name, method === "POST" ? "push" : "pull"),
      ],
      ...(who ? { creds: who } : {}),
      onToken: (token) => fx.secrets.add(token),
    });
    answers.push(res);
    return res;
  }

  /** The same request with Basic credentials: the other way a client may authenticate. */
  async function basic(who: Credentials, method: string, path: string) {
    const res = await rawRequest(fx.wharf.url, path, {
      method,
      headers: { authorization: basicAuthorization(who), accept: ACCEPT_MANIFESTS },
    });
    answers.push(res);
    return res;
  }

  /** alice gets `status` both ways, and never a body holding the secret content. */
  async function aliceGets(method: string, path: string, status: number): Promise<void> {
    for (const res of [await as(fx.users.alice, method, path), await basic(fx.users.alice, method, path)]) {
      assert.equal(res.status, status, `${method} ${path}: ${res.body.toString().slice(0, 200)}`);
    }
  }

  test("the shared layer really is shared, and carol (the control) reads everything", async () => {
    assert.ok(shared && ownLayer && shared !== ownLayer);
    for (const path of [
      "/v2/secret/app/manifests/v1",
      "/v2/secret/app/manifests/only",
      `/v2/secret/app/blobs/${ownLayer}`,
      "/v2/all/app/manifests/only",
      `/v2/all/app/blobs/${shared}`,
    ])
      assert.equal((await as(fx.users.carol, "GET", path)).status, 200, path);
    assert.equal((await as(fx.users.alice, "GET", `/v2/internal/team/app/blobs/${shared}`)).status, 200);
  });

  test("directly: 403 for manifests, blobs, tags and referrers of secret", async () => {
    await aliceGets("GET", "/v2/secret/app/manifests/v1", 403);
    await aliceGets("HEAD", `/v2/secret/app/manifests/${small.digest}`, 403);
    await aliceGets("GET", `/v2/secret/app/blobs/${shared}`, 403);
    await aliceGets("HEAD", `/v2/secret/app/blobs/${ownLayer}`, 403);
    await aliceGets("GET", "/v2/secret/app/tags/list", 403);
    await aliceGets("GET", `/v2/secret/app/referrers/${small.digest}`, 403);
  });

  test("through the group: secret is not a member alice can see", async () => {
    await aliceGets("GET", "/v2/all/app/manifests/v1", 404);
    await aliceGets("GET", `/v2/all/app/manifests/${secretOnly.digest}`, 404);
    await aliceGets("GET", `/v2/all/app/blobs/${shared}`, 404);
    await aliceGets("HEAD", `/v2/all/app/blobs/${ownLayer}`, 404);
    await aliceGets("GET", "/v2/all/app/tags/list", 404);
    // the default repository is the group: plain names go through it too
    await aliceGets("GET", "/v2/app/manifests/only", 404);
    await aliceGets("GET", `/v2/app/blobs/${ownLayer}`, 404);
  });

  test("deduplicated bytes are served only under a name that holds them", async () => {
    await aliceGets("GET", `/v2/internal/team/app/blobs/${ownLayer}`, 404);
    await aliceGets("GET", `/v2/internal/app/blobs/${shared}`, 404);
    await aliceGets("GET", `/v2/internal/team/app/manifests/${secretOnly.digest}`, 404);
    await aliceGets("GET", `/v2/all/team/app/blobs/${ownLayer}`, 404);
  });

  test("a mount into a name alice may push to never links secret's blobs", async () => {
    const target = "internal/alice/stolen";
    const mount = (digest: string, from: string) =>
      as(fx.users.alice, "POST", `/v2/${target}/blobs/uploads/?mount=${digest}&from=${from}`, [
        repositoryScope(target, "push"),
        repositoryScope(from, "pull"),
      ]);
    // A source alice may not read, or one that shows her no such blob (the group and the default
    // repository hide secret, internal/team/app does not hold the layer, though its bytes are on
    // disk), gets the spec's fallback: a fresh upload session, nothing linked.
    for (const [digest, from] of [
      [ownLayer, "secret/app"],
      [shared, "secret/app"],
      [ownLayer, "all/app"],
      [ownLayer, "app"],
      [ownLayer, "internal/team/app"],
    ] as const) {
      const res = await mount(digest, from);
      const what = `mount ${digest === ownLayer ? "secret's own layer" : "the shared layer"} from ${from}`;
      assert.equal(res.status, 202, `${what}: ${res.status} ${res.body.toString()}`);
      assert.match(String(res.headers.location), new RegExp(`^/v2/${target}/blobs/uploads/`), what);
    }
    await aliceGets("GET", `/v2/${target}/blobs/${ownLayer}`, 404);
    // the control: a mount from a source alice may read, which holds the blob, works
    assert.equal((await mount(shared, "internal/team/app")).status, 201);
    await aliceGets("GET", `/v2/${target}/blobs/${shared}`, 200);
  });

  test("referrers: secret's signature of a manifest alice can read elsewhere is not listed", async () => {
    for (const path of [
      `/v2/all/app/referrers/${small.digest}`,
      `/v2/internal/team/app/referrers/${small.digest}`,
    ]) {
      for (const res of [await as(fx.users.alice, "GET", path), await basic(fx.users.alice, "GET", path)]) {
        assert.equal(res.status, 200, `${path}: ${res.body.toString()}`);
        // the image is there for her, its referrers index is empty: secret's signature is not listed
        assert.deepEqual((JSON.parse(res.body.toString()) as { manifests: unknown[] }).manifests, [], path);
      }
    }
    const control = await as(fx.users.carol, "GET", `/v2/secret/app/referrers/${small.digest}`);
    assert.ok(control.body.toString().includes(referrer.digest), "carol sees the referrer");
  });

  test("the catalog lists only names the caller may read", async () => {
    const catalog = async (res: RawResponse) => {
      assert.equal(res.status, 200, res.body.toString());
      return (JSON.parse(res.body.toString()) as { repositories: string[] }).repositories;
    };
    const carol = await catalog(await as(fx.users.carol, "GET", "/v2/_catalog"));
    assert.ok(carol.includes("app"), `carol: ${carol.join(" ")}`);
    for (const names of [
      await catalog(await as(fx.users.alice, "GET", "/v2/_catalog")),
      await catalog(await basic(fx.users.alice, "GET", "/v2/_catalog")),
    ]) {
      assert.ok(names.includes("team/app"), `alice: ${names.join(" ")}`);
      assert.ok(!names.includes("app") && !names.includes("vendor/tool"), `alice: ${names.join(" ")}`);
    }
    const anonymous = await catalog(await as(undefined, "GET", "/v2/_catalog"));
    assert.deepEqual(
      anonymous.filter((n) => ["app", "team/app", "vendor/tool"].includes(n)),
      [],
    );
  });

  test("a private proxy: only the devs read what its upstream credentials reach", async () => {
    await aliceGets("GET", "/v2/vendor/vendor/tool/manifests/1", 403);
    await aliceGets("GET", "/v2/all/vendor/tool/manifests/1", 404);
    assert.equal((await as(undefined, "GET", "/v2/vendor/vendor/tool/manifests/1")).status, 401);
    assert.equal((await as(undefined, "GET", "/v2/all/vendor/tool/manifests/1")).status, 404);
    assert.equal((await as(fx.users.bob, "GET", "/v2/vendor/vendor/tool/manifests/1")).status, 200);
  });

  test("upstream credentials appear in no answer: registry API, errors, status pages, tokens", async () => {
    // the upstream's refusal is not passed on as a challenge to the client: it is a lookup that failed
    const refused = await as(undefined, "GET", "/v2/mis/lib/app/manifests/v1");
    assert.equal(refused.status, 404, `a proxy whose upstream refuses wharf: ${refused.body.toString()}`);
    assert.deepEqual(errorCodes(refused.body), ["MANIFEST_UNKNOWN"]);
    assert.match(refused.body.toString(), /"message":"upstream refused access"/);
    for (const side of ["/api/status", "/metrics", "/healthz"])
      answers.push(await rawRequest(fx.wharf.url, side));
    const upstream = [fx.hub.creds, fx.vendor.creds, misCreds];
    const secrets = upstream.flatMap((c) => [
      c.password,
      Buffer.from(`${c.username}:${c.password}`).toString("base64"),
    ]);
    for (const res of answers) {
      const text = `${JSON.stringify(res.headers)}\n${res.body.toString("latin1")}`;
      for (const secret of secrets)
        assert.ok(!text.includes(secret), `an answer (${res.status}) holds an upstream secret`);
    }
    assert.ok(answers.length > 50, `${answers.length} answers checked`);
  });

  test("no password, upstream credential or token appears in any log line", () => {
    assertNoSecretInFiles(fx.logFiles(), fx.secrets);
  });
});

describe("upstream credentials written into the upstream URL", () => {
  test("are taken out of the URL and used, and never shown: not by config check, in /api/status, an answer or a log", async () => {
    const creds = { username: "url-robot", password: uniquePassword("url-upstream") };
    const up = await startUpstream({ auth: "basic", creds });
    const dir = makeTempDir("url-creds");
    try {
      await pushImage(getImage("small"), up, "lib/app:v1");
      const url = up.url.replace("://", `://${creds.username}:${creds.password}@`);
      const file = path.join(dir, "wharf.yaml");
      fs.writeFileSync(
        file,
        YAML.stringify({ auth: {}, repositories: { hub: { type: "proxy", upstream: { url } } } }),
      );
      const check = await runWharfCli(["config", "check", file]);
      assert.ok(
        !`${check.stdout}${check.stderr}`.includes(creds.password),
        "config check repeats the password",
      );
      // accepted: the configuration takes them out of the URL as the upstream's username and password
      assert.equal(check.code, 0, check.stderr);
      const wharf = await startWharf({
        configYaml: fs.readFileSync(file, "utf8"),
        env: { WHARF_ADMIN_PASSWORD: uniquePassword("admin") },
      });
      try {
        const answers = [
          await rawRequest(wharf.url, "/api/status"),
          await rawRequest(wharf.url, "/v2/hub/lib/app/manifests/v1", {
            headers: { accept: ACCEPT_MANIFESTS },
          }),
        ];
        assert.equal(answers[1]?.status, 200, "the basic-auth upstream let wharf in with them");
        for (const res of answers)
          assert.ok(!res.body.toString().includes(creds.password), `an answer: ${res.body.toString()}`);
        const secrets = new Secrets();
        secrets.addCredentials(creds);
        assertNoSecretInFiles(
          [path.join(wharf.dir, "wharf.stdout"), path.join(wharf.dir, "wharf.stderr")],
          secrets,
        );
      } finally {
        await wharf.close();
      }
    } finally {
      await up.close();
      await removeTempDir(dir);
    }
  });
});
