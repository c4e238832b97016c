// Authentication across two nodes on one database (and one bucket): a registry token issued by one
// node is accepted by the other (one signing key for the cluster), and an API token revoked by a
// command is refused at once by a node that had just accepted it, well inside the 10 s its
// authenticator remembers a success (the auth tables' trigger notifies every node).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { cephRgw, s3Prefix } from "../harness/backends/ceph-rgw.js";
import { type PostgresServer, startPostgres } from "../harness/backends/postgres.js";
import { rawRequest } from "../harness/http/requests.js";
import { runWharfCli } from "../harness/wharf/cli.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

const ADMIN_PASSWORD = `cluster-auth-${process.pid}`;
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("two secured nodes, one database", () => {
  let postgres: PostgresServer;
  const nodes: Wharf[] = [];
  let configYaml = "";
  let env: Record<string, string> = {};
  const cli = (args: string[]) => runWharfCli([...args, "--config", nodes[0]?.configPath ?? ""], { env });

  before(async () => {
    const s3 = cephRgw();
    postgres = await startPostgres();
    env = { DATABASE_URL: await postgres.schemaUrl("auth"), WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD };
    configYaml = `
storage:
  s3: { endpoint: "${s3.endpoint}", bucket: ${s3.bucket}, access_key: ${s3.accessKey}, secret_key: ${s3.secretKey}, prefix: ${s3Prefix("cluster-auth")} }
database:
  url: \${DATABASE_URL}
repositories:
  internal: { type: hosted }
default_repository: internal
`;
    // One after the other: the first creates the admin, the second finds it.
    for (let i = 0; i < 2; i++) nodes.push(await startWharf({ configYaml, secured: true, env }));
  });
  after(async () => {
    for (const node of nodes) await node.close();
    await postgres?.stop();
  });

  test("a registry token one node issued is accepted by the other", async () => {
    const [a, b] = nodes as [Wharf, Wharf];
    const issued = await rawRequest(a.url, "/token?service=wharf&scope=repository:team/app:pull,push", {
      headers: { authorization: basic("admin", ADMIN_PASSWORD) },
    });
    assert.equal(issued.status, 200, issued.body.toString());
    const { token } = JSON.parse(issued.body.toString()) as { token: string };
    const used = await rawRequest(b.url, "/v2/team/app/tags/list", {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.notEqual(used.status, 401, used.body.toString());
    const anonymous = await rawRequest(b.url, "/v2/team/app/tags/list");
    assert.equal(anonymous.status, 401, "without the token the same request is refused");
  });

  test("an API token revoked by a command is refused at once by a node that just accepted it", async () => {
    const created = await cli(["token", "create", "--user", "admin", "--description", "ci"]);
    assert.equal(created.code, 0, created.stderr);
    const match = /^token (\S+) for admin: (\S+)$/m.exec(created.stdout);
    assert.ok(match, created.stdout);
    const [, id, secret] = match as unknown as [string, string, string];
    for (const node of nodes) {
      const ok = await rawRequest(node.url, "/v2/", { headers: { authorization: basic("admin", secret) } });
      assert.equal(ok.status, 200, "accepted, and remembered for 10 s");
    }
    const revoked = await cli(["token", "revoke", id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const started = Date.now();
    for (const node of nodes) {
      for (;;) {
        const answer = await rawRequest(node.url, "/v2/", {
          headers: { authorization: basic("admin", secret) },
        });
        if (answer.status === 401) break;
        assert.ok(Date.now() - started < 3000, "still accepted 3 s after the revocation");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  });
});
