// Issue 4, point 6: pushes, deletes, logins (success and failure), user and token changes and
// rule changes (compared with the last run's at start) are structured log lines with
// `audit: true`, an `event`, who and what — and never a secret.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { basicAuthorization, requestToken } from "../harness/auth/bearer.js";
import { assertNoSecretInFiles } from "../harness/auth/secrets.js";
import { repositoryScope, tokenFlowRequest } from "../harness/auth/token-flow.js";
import {
  type AuthFixture,
  authConfigYaml,
  FIXTURE_RULES,
  SERVICE,
  startAuthFixture,
} from "../harness/fixtures/auth.js";
import { rawRequest } from "../harness/http/requests.js";
import { pushImage } from "../harness/images/push.js";
import { getImage } from "../harness/images/test-images.js";
import type { CliResult } from "../harness/wharf/cli.js";
import type { WharfLogLine } from "../harness/wharf/start.js";
import { addUser, createApiToken, revokeApiToken, runUserCommand } from "../harness/wharf/users.js";

/** The JSON audit lines of a CLI command's stderr. */
function cliAudit(result: CliResult): WharfLogLine[] {
  return result.stderr
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as WharfLogLine)
    .filter((line) => line.audit === true);
}

describe("audit events", () => {
  const small = getImage("small");
  let fx: AuthFixture;
  /** CLI output, scanned for secrets with the server's log at the end. */
  const cliOutputs: string[] = [];

  before(async () => {
    fx = await startAuthFixture();
  });
  after(() => fx?.close());

  const audits = (event: string) => fx.wharf.logLines().filter((l) => l.audit === true && l.event === event);
  /** The one audit line of `event` matching `fields`, waited for (the log is written asynchronously). */
  async function auditLine(event: string, fields: Record<string, unknown>): Promise<WharfLogLine> {
    return fx.wharf.waitLog(
      (l) => l.audit === true && l.event === event && Object.entries(fields).every(([k, v]) => l[k] === v),
      5_000,
    );
  }

  test("a push: who, which repository, name, reference and digest", async () => {
    await pushImage(small, { host: fx.wharf.host, creds: fx.users.bob }, "all/team/audit:1");
    const line = await auditLine("push", { name: "team/audit", reference: "1" });
    assert.equal(line.user, "bob");
    assert.equal(line.repo, "internal", "the repository the group sent the push to");
    assert.equal(line.digest, small.digest);
    assert.equal(typeof line.remote, "string");
  });

  test("deletes of a tag and of a blob: who and what", async () => {
    const del = (path: string) =>
      tokenFlowRequest(fx.wharf.url, path, {
        method: "DELETE",
        scopes: [repositoryScope("internal/team/audit", "delete")],
        creds: fx.users.bob,
        onToken: (token) => fx.secrets.add(token),
      });
    assert.equal((await del("/v2/internal/team/audit/manifests/1")).status, 202);
    const layer = small.blobs[0]?.digest ?? "";
    assert.equal((await del(`/v2/internal/team/audit/blobs/${layer}`)).status, 202);
    const tag = await auditLine("delete", { name: "team/audit", reference: "1" });
    assert.equal(tag.user, "bob");
    assert.equal(tag.repo, "internal");
    const blob = await auditLine("delete", { name: "team/audit", digest: layer });
    assert.equal(blob.user, "bob");
  });

  test("logins: success and failure at the token endpoint, failure with Basic on the API", async () => {
    const realm = { realm: `${fx.wharf.url}/token`, service: SERVICE };
    const ok = await requestToken(realm, [], fx.users.carol);
    fx.secrets.add(ok.token ?? "missing-token");
    assert.equal(
      (await requestToken(realm, [], { username: "carol", password: "not-carols-password" })).status,
      401,
    );
    const basic = await rawRequest(fx.wharf.url, "/v2/", {
      headers: { authorization: basicAuthorization({ username: "carol", password: "not-carols-either" }) },
    });
    assert.equal(basic.status, 401);
    const success = await auditLine("login.success", { user: "carol", via: "token" });
    assert.equal(typeof success.remote, "string");
    await auditLine("login.failure", { user: "carol", via: "token" });
    await auditLine("login.failure", { user: "carol", via: "basic" });
  });

  test("users and API tokens made with the CLI: events on its stderr, secrets only on its stdout", async () => {
    const generated = await runUserCommand(fx.wharf, ["user", "add", "dave", "--group", "devs"]);
    assert.equal(generated.code, 0, generated.stderr);
    const password = /password (\S+) \(shown once\)/.exec(generated.stdout)?.[1] ?? "";
    fx.secrets.add(password);
    const token = await createApiToken(fx.wharf, "dave", {
      scopes: ["internal/team/**:pull"],
      expires: "1d",
    });
    fx.secrets.add(token.secret);
    const revoked = await revokeApiToken(fx.wharf, token.id);
    const deleted = await runUserCommand(fx.wharf, ["user", "delete", "dave"]);
    const withStdin = await addUser(fx.wharf, "erin", "erin-password-123", { admin: true });
    fx.secrets.add("erin-password-123");
    const events = [generated, token.result, revoked, deleted, withStdin].flatMap(cliAudit);
    assert.deepEqual(
      events.map((l) => [l.event, l.user ?? null, l.token ?? null]),
      [
        ["user.saved", "dave", null],
        ["token.created", "dave", token.id],
        ["token.revoked", null, token.id],
        ["user.deleted", "dave", null],
        ["user.saved", "erin", null],
      ],
    );
    assert.deepEqual(events[0]?.groups, ["devs"]);
    assert.equal(events[4]?.admin, true);
    assert.deepEqual(events[1]?.scopes, [
      { repositories: ["internal"], names: ["team/**"], actions: ["pull"] },
    ]);
    for (const result of [generated, token.result, revoked, deleted, withStdin]) {
      cliOutputs.push(result.stderr);
      assert.deepEqual(fx.secrets.foundIn(result.stderr), [], "stderr holds no secret");
    }
  });

  test("rule changes between runs: loaded at the first start, the difference after a restart", async () => {
    assert.equal(audits("rules.loaded").length, 1);
    const added = { repositories: ["secret"], names: ["shared/**"], users: { alice: ["pull"] } };
    const rules = [...FIXTURE_RULES.filter((r) => r.repositories[0] !== "vendor"), added];
    if (!fx.wharf.configPath) throw new Error("the fixture has a config file");
    const config = {
      hubUrl: fx.hub.url,
      vendorUrl: fx.vendor.url,
      hubCreds: fx.hub.creds,
      vendorCreds: fx.vendor.creds,
    };
    fs.writeFileSync(fx.wharf.configPath, authConfigYaml({ ...config, rules }));
    await fx.wharf.restart();
    const changed = await auditLine("rules.changed", {});
    assert.deepEqual(changed.added, [{ ...added, anonymous: [], authenticated: [], groups: {} }]);
    assert.deepEqual(changed.removed, [
      {
        repositories: ["vendor"],
        names: ["**"],
        anonymous: [],
        authenticated: [],
        users: {},
        groups: { devs: ["pull"] },
      },
    ]);
    assert.equal(typeof changed.digest, "string");
    await fx.wharf.restart();
    assert.equal(audits("rules.changed").length, 1, "an unchanged restart is no change");
    // the new rules are in force
    const res = await tokenFlowRequest(fx.wharf.url, "/v2/vendor/vendor/tool/manifests/1", {
      scopes: [repositoryScope("vendor/vendor/tool", "pull")],
      creds: fx.users.bob,
      onToken: (token) => fx.secrets.add(token),
    });
    assert.equal(res.status, 403, "bob lost the vendor rule");
  });

  test("every audit line says who or what, and no log line holds a secret", () => {
    const lines = fx.wharf.logLines().filter((l) => l.audit === true);
    assert.ok(lines.length >= 8, `${lines.length} audit lines`);
    for (const line of lines) assert.equal(typeof line.event, "string", JSON.stringify(line));
    assertNoSecretInFiles(fx.logFiles(), fx.secrets);
    assert.deepEqual(fx.secrets.foundIn(cliOutputs.join("\n")), []);
  });
});
