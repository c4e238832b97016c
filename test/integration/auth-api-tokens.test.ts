// Issue 4, point 2: API tokens for CI robots. Created with `wharf token create --scope …`, used as
// the password by real clients and raw requests; refused outside their scope (also where a group
// or the catalog could show more), within seconds of `wharf token revoke`, and once expired.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { basicAuthorization, requestToken } from "../harness/auth/bearer.js";
import { DENIED } from "../harness/auth/refusals.js";
import { assertNoSecretInFiles } from "../harness/auth/secrets.js";
import { repositoryScope, tokenFlowRequest } from "../harness/auth/token-flow.js";
import { skopeoCopy } from "../harness/clients/index.js";
import { type AuthFixture, SERVICE, startAuthFixture } from "../harness/fixtures/auth.js";
import { ACCEPT_MANIFESTS, errorCodes, rawRequest } from "../harness/http/requests.js";
import { attemptPush, pushImage } from "../harness/images/push.js";
import { expectedContent, getImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import type { Credentials } from "../harness/types.js";
import { createApiToken, revokeApiToken, runUserCommand } from "../harness/wharf/users.js";

/**
 * A bound for a revocation to bite, generous for a slow machine: the server remembers accepted
 * credentials for 10 s, which the authenticator's unit test holds to the millisecond.
 */
const REVOCATION_MS = 20_000;

describe("API tokens for robots", () => {
  let fx: AuthFixture;

  before(async () => {
    fx = await startAuthFixture();
  });
  after(() => fx?.close());

  /** A token of bob's (group devs) as the credentials a robot would use. */
  async function robot(scopes: string[], expires?: string): Promise<{ id: string; creds: Credentials }> {
    const created = await createApiToken(fx.wharf, "bob", { scopes, ...(expires ? { expires } : {}) });
    fx.secrets.add(created.secret);
    assert.ok(!created.result.stderr.includes(created.secret), "the CLI's audit line holds no secret");
    return { id: created.id, creds: { username: "bob", password: created.secret } };
  }

  const manifestOf = (name: string, tag: string) => `/v2/${name}/manifests/${tag}`;
  const realm = () => ({ realm: `${fx.wharf.url}/token`, service: SERVICE });

  /** GET a manifest with Basic credentials. */
  function basicGet(creds: Credentials, path: string) {
    return rawRequest(fx.wharf.url, path, {
      headers: { authorization: basicAuthorization(creds), accept: ACCEPT_MANIFESTS },
    });
  }

  /** GET a manifest through the token flow. */
  function flowGet(creds: Credentials, path: string, name: string) {
    return tokenFlowRequest(fx.wharf.url, path, {
      headers: { accept: ACCEPT_MANIFESTS },
      scopes: [repositoryScope(name, "pull")],
      creds,
      onToken: (token) => fx.secrets.add(token),
    });
  }

  test("used as the password: skopeo pushes and pulls inside the scope, and nothing outside it", async () => {
    const ci = await robot(["internal/team/ci/**:pull,push"]);
    const small = getImage("small");
    await pushImage(small, { host: fx.wharf.host, creds: ci.creds }, "internal/team/ci/app:1");
    const pulled = await skopeoCopy(`${fx.wharf.host}/internal/team/ci/app:1`, makeTempDir("pull"), {
      creds: ci.creds,
    });
    assert.deepEqual(pulled.content, expectedContent(small));
    // bob could do all of these; his token may not. Pushes are judged by their own answer: a
    // read-back with the token would fail whether the push was taken or not.
    const target = { host: fx.wharf.host };
    const outside = await attemptPush(small, { ...target, creds: ci.creds }, "internal/team/other:1");
    assert.notEqual(outside.code, 0, "a push outside the scope");
    // refused already where skopeo looks for the blobs there, which the token may not read either
    assert.match(outside.stderr, DENIED);
    // a token that may read the name but not push to it: refused at the push itself
    const reader = await robot(["internal/team/**:pull"]);
    const pullOnly = await attemptPush(small, { ...target, creds: reader.creds }, "internal/team/other:1");
    assert.notEqual(pullOnly.code, 0, "a push with a pull-only scope");
    assert.match(
      pullOnly.stderr,
      /initiating layer upload to \S+ in \S+: denied: requested access to the resource is denied"$/m,
    );
    const absent = await basicGet(fx.users.bob, manifestOf("internal/team/other", "1"));
    assert.equal(absent.status, 404, "bob, who could read it, finds nothing of the refused pushes");
    await assert.rejects(
      skopeoCopy(`${fx.wharf.host}/internal/team/app:v1`, makeTempDir("pull"), { creds: ci.creds }),
      DENIED,
    );
    for (const name of ["internal/team/app", "hub/lib/app"]) {
      const res = await basicGet(ci.creds, manifestOf(name, "v1"));
      assert.equal(res.status, 403, `${name} with Basic`);
      assert.deepEqual(errorCodes(res.body), ["DENIED"]);
      const flow = await flowGet(ci.creds, manifestOf(name, "v1"), name);
      // the token endpoint knows the robot and hands out a token; the registry refuses the request
      assert.deepEqual([flow.tokenStatus, flow.status], [200, 403], `${name} via token`);
      assert.deepEqual(errorCodes(flow.body), ["DENIED"]);
    }
  });

  test("a token's scope holds through a group: members outside it stay hidden", async () => {
    // `internal/**:pull` lets the token read the group `all` where internal answers; the devs'
    // private proxy `vendor`, a member bob may read but the token may not, must stay hidden
    const reader = await robot(["internal/**:pull"]);
    const path = manifestOf("all/vendor/tool", "1");
    assert.equal((await basicGet(fx.users.bob, path)).status, 200, "bob himself reads it");
    assert.equal((await basicGet(reader.creds, path)).status, 404, "the token with Basic");
    const viaToken = await flowGet(reader.creds, path, "all/vendor/tool");
    assert.equal(viaToken.status, 404, "the token through the token protocol (what docker and podman use)");
  });

  test("a token's scope holds in the catalog", async () => {
    const reader = await robot(["internal/**:pull"]);
    assert.equal((await basicGet(fx.users.bob, manifestOf("all/vendor/tool", "1"))).status, 200);
    const list = async (res: { status: number; body: Buffer }) => {
      assert.equal(res.status, 200, res.body.toString());
      return (JSON.parse(res.body.toString()) as { repositories: string[] }).repositories;
    };
    const basic = await list(await basicGet(reader.creds, "/v2/_catalog"));
    assert.ok(basic.includes("team/app") && !basic.includes("vendor/tool"), `Basic: ${basic.join(" ")}`);
    const viaToken = await list(
      await tokenFlowRequest(fx.wharf.url, "/v2/_catalog", {
        scopes: ["registry:catalog:*"],
        creds: reader.creds,
      }),
    );
    assert.ok(!viaToken.includes("vendor/tool"), `through the token protocol: ${viaToken.join(" ")}`);
  });

  test("the token works only under its owner's name", async () => {
    const ci = await robot(["internal/team/**:pull"]);
    const path = manifestOf("internal/team/app", "v1");
    assert.equal((await basicGet(ci.creds, path)).status, 200);
    for (const username of ["alice", "admin", "Bob"]) {
      assert.equal((await basicGet({ username, password: ci.creds.password }, path)).status, 401, username);
      assert.equal(
        (
          await requestToken(realm(), [], {
            username,
            password: ci.creds.password,
          })
        ).status,
        401,
      );
    }
  });

  /** Polls until `refused` holds, failing after REVOCATION_MS; returns how long it took. */
  async function refusedWithin(what: string, refused: () => Promise<boolean>): Promise<number> {
    const started = Date.now();
    while (!(await refused())) {
      if (Date.now() - started > REVOCATION_MS)
        assert.fail(`${what}: still accepted after ${REVOCATION_MS} ms`);
      await sleep(250);
    }
    return Date.now() - started;
  }

  test("revoked: refused within seconds with Basic, at the token endpoint, and as a registry token issued before", async () => {
    const ci = await robot(["internal/team/**:pull"]);
    const path = manifestOf("internal/team/app", "v1");
    const scopes = [repositoryScope("internal/team/app", "pull")];
    const jwt = (await requestToken(realm(), scopes, ci.creds)).token ?? "";
    fx.secrets.add(jwt);
    const withJwt = () =>
      rawRequest(fx.wharf.url, path, {
        headers: { authorization: `Bearer ${jwt}`, accept: ACCEPT_MANIFESTS },
      });
    assert.equal((await withJwt()).status, 200);
    assert.equal((await basicGet(ci.creds, path)).status, 200, "used (and remembered) before the revocation");
    await revokeApiToken(fx.wharf, ci.id);
    // the CLI's commit is seen by the server's caches at the next request (SQLite's data_version)
    assert.equal((await withJwt()).status, 401, "a registry token issued before: refused at once");
    assert.equal((await basicGet(ci.creds, path)).status, 401, "Basic: refused at once");
    // both clocks run at once: the registry token is the one docker and podman keep using, for its
    // expires_in (60 s here, 5 min by default), to push on after the revocation
    const [basic, registryToken] = await Promise.allSettled([
      refusedWithin("Basic", async () => (await basicGet(ci.creds, path)).status === 401),
      refusedWithin(
        "a registry token issued before the revocation",
        async () => (await withJwt()).status === 401,
      ),
    ]);
    if (basic.status === "rejected") throw basic.reason;
    assert.equal((await requestToken(realm(), scopes, ci.creds)).status, 401, "the token endpoint");
    const listed = await runUserCommand(fx.wharf, ["token", "list"]);
    assert.match(listed.stdout, new RegExp(`^${ci.id} bob revoked `, "m"));
    assert.ok(!listed.stdout.includes(ci.creds.password));
    if (registryToken.status === "rejected") throw registryToken.reason;
  });

  test("expired: accepted until its expiry, refused from then on", async () => {
    // an hour no machine is slow enough to use up; a second any wait past it is past
    const hour = await robot(["internal/team/**:pull"], "1h");
    const second = await robot(["internal/team/**:pull"], "1s");
    const expired = Date.now() + 1000;
    const path = manifestOf("internal/team/app", "v1");
    assert.equal((await basicGet(hour.creds, path)).status, 200, "before its expiry");
    const listed = await runUserCommand(fx.wharf, ["token", "list"]);
    assert.match(listed.stdout, new RegExp(`^${hour.id} bob active `, "m"));
    await sleep(Math.max(0, expired + 200 - Date.now()));
    assert.equal((await basicGet(second.creds, path)).status, 401, "Basic, after the expiry");
    assert.equal(
      (await requestToken(realm(), [repositoryScope("internal/team/app", "pull")], second.creds)).status,
      401,
    );
    const after = (await runUserCommand(fx.wharf, ["token", "list"])).stdout;
    assert.match(after, new RegExp(`^${second.id} bob expired `, "m"));
    assert.match(after, new RegExp(`^${hour.id} bob active `, "m"));
  });

  test("no password, API token or registry token appears in any log line", () => {
    assertNoSecretInFiles(fx.logFiles(), fx.secrets);
  });
});
