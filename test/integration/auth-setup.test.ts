// Issue 4, point 2: the first start and existing users. The first admin's password comes from
// WHARF_ADMIN_PASSWORD or is generated and printed once on stderr, never in the JSON log;
// htpasswd files (config `auth.htpasswd`, `wharf user import`) bring their bcrypt users and skip
// every other line with a message naming it.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { requestToken } from "../harness/auth/bearer.js";
import { htpasswdLine } from "../harness/auth/htpasswd.js";
import { jwtPayload } from "../harness/auth/jwt.js";
import { assertNoSecretInFiles, Secrets } from "../harness/auth/secrets.js";
import { authConfigYaml, SERVICE, uniquePassword } from "../harness/fixtures/auth.js";
import { makeTempDir } from "../harness/system/tmp.js";
import type { Credentials } from "../harness/types.js";
import { proxyEnv } from "../harness/wharf/proxy-env.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";
import { addUser, importHtpasswd } from "../harness/wharf/users.js";

/** The proxies point at a closed port: these tests never pull through them. */
const NOWHERE = "http://127.0.0.1:9";
/** The one line the first start may print the generated password on. */
const FIRST_ADMIN = /created the first user "admin" with password (\S+)/;

describe("first start and htpasswd users", () => {
  const secrets = new Secrets();
  const started: Wharf[] = [];
  const upstreamCreds = { username: "hub-robot", password: uniquePassword("unused-upstream") };
  secrets.addCredentials(upstreamCreds);
  after(async () => {
    for (const wharf of started) await wharf.close();
  });

  async function start(
    env: Record<string, string>,
    auth: Record<string, unknown> = {},
    rules?: "defaults",
  ): Promise<Wharf> {
    const configYaml = authConfigYaml({
      hubUrl: NOWHERE,
      vendorUrl: NOWHERE,
      hubCreds: upstreamCreds,
      vendorCreds: upstreamCreds,
      auth,
      ...(rules ? { rules } : {}),
    });
    const wharf = await startWharf({ configYaml, env });
    started.push(wharf);
    return wharf;
  }

  const logFiles = (wharf: Wharf) => ["stdout", "stderr"].map((f) => path.join(wharf.dir, `wharf.${f}`));
  const stderr = (wharf: Wharf) => fs.readFileSync(path.join(wharf.dir, "wharf.stderr"), "utf8");
  const audit = (wharf: Wharf, event: string) =>
    wharf.logLines().filter((l) => l.audit === true && l.event === event);

  /** Whether the token endpoint accepts these credentials. */
  async function logsIn(wharf: Wharf, creds: Credentials): Promise<boolean> {
    const answer = await requestToken({ realm: `${wharf.url}/token`, service: SERVICE }, [], creds);
    assert.ok(answer.status === 200 || answer.status === 401, `${answer.status} ${answer.body}`);
    return answer.status === 200;
  }

  let withEnv: Wharf;
  let fromFile:
    | { wharf: Wharf; file: string; lines: string[]; users: Record<string, Credentials> }
    | undefined;

  test("WHARF_ADMIN_PASSWORD: the first admin logs in with it; it is printed nowhere", async () => {
    const admin = { username: "admin", password: uniquePassword("env-admin") };
    secrets.addCredentials(admin);
    withEnv = await start({ WHARF_ADMIN_PASSWORD: admin.password });
    assert.ok(await logsIn(withEnv, admin));
    assert.ok(!(await logsIn(withEnv, { username: "admin", password: "something-else" })));
    const created = audit(withEnv, "user.created");
    assert.deepEqual(
      created.map((l) => [l.user, l.admin, l.source]),
      [["admin", true, "WHARF_ADMIN_PASSWORD"]],
    );
    assert.doesNotMatch(stderr(withEnv), FIRST_ADMIN);
  });

  test("without it: a generated password, printed once on stderr and never in the JSON log", async () => {
    const wharf = await start({ WHARF_ADMIN_PASSWORD: "" });
    const printed = stderr(wharf)
      .split("\n")
      .filter((line) => FIRST_ADMIN.test(line));
    assert.equal(printed.length, 1, stderr(wharf));
    const password = FIRST_ADMIN.exec(printed[0] ?? "")?.[1] ?? "";
    secrets.addCredentials({ username: "admin", password });
    assert.match(password, /^[A-Za-z0-9]{24}$/);
    assert.ok(await logsIn(wharf, { username: "admin", password }));
    assert.ok(!fs.readFileSync(logFiles(wharf)[0] ?? "", "utf8").includes(password), "not in stdout");
    assert.deepEqual(
      audit(wharf, "user.created").map((l) => l.source),
      ["generated"],
    );

    await wharf.restart();
    const occurrences = stderr(wharf).split(password).length - 1;
    assert.equal(occurrences, 1, "a restart prints it no more");
    assert.equal(audit(wharf, "user.created").length, 1, "nor creates the admin again");
    assert.ok(await logsIn(wharf, { username: "admin", password }), "the same password after the restart");
  });

  test("without rules, the defaults: anonymous pulls proxies only, users pull and push, admins delete", async () => {
    const admin = { username: "admin", password: uniquePassword("defaults-admin") };
    const dana = { username: "dana", password: uniquePassword("dana") };
    for (const creds of [admin, dana]) secrets.addCredentials(creds);
    const wharf = await start({ WHARF_ADMIN_PASSWORD: admin.password }, {}, "defaults");
    await addUser(wharf, dana.username, dana.password);
    const scopes = ["hub/lib/app", "internal/team/app", "all/team/app"].map(
      (n) => `repository:${n}:pull,push,delete`,
    );
    /** What a token for `scopes` grants, by repository name. */
    const granted = async (creds?: Credentials) => {
      const answer = await requestToken({ realm: `${wharf.url}/token`, service: SERVICE }, scopes, creds);
      secrets.add(answer.token ?? "missing-token");
      const access = jwtPayload(answer.token ?? "").access as Array<{ name: string; actions: string[] }>;
      return Object.fromEntries(access.map((a) => [a.name, [...a.actions].sort()]));
    };
    assert.deepEqual(await granted(), { "hub/lib/app": ["pull"], "all/team/app": ["pull"] });
    const user = await granted(dana);
    assert.deepEqual(user["internal/team/app"], ["pull", "push"]);
    assert.deepEqual(user["all/team/app"], ["pull", "push"]);
    assert.ok(user["hub/lib/app"]?.includes("pull") && !user["hub/lib/app"]?.includes("delete"));
    assert.deepEqual((await granted(admin))["internal/team/app"], ["delete", "pull", "push"]);
  });

  /** An htpasswd file: comments, two bcrypt users, then the formats wharf refuses. */
  async function htpasswdFile(
    users: Record<string, Credentials>,
  ): Promise<{ file: string; lines: string[] }> {
    const lines = [
      "# exported from registry:v2",
      await htpasswdLine(users.deploy as Credentials, "bcrypt"),
      await htpasswdLine(users.ci as Credentials, "bcrypt"),
      await htpasswdLine(users.md5 as Credentials, "md5"),
      await htpasswdLine(users.sha as Credentials, "sha1"),
      await htpasswdLine(users.plain as Credentials, "plain"),
      "this line is not an entry",
      "",
    ];
    for (const line of lines.slice(1, 6)) secrets.add(line.slice(line.indexOf(":") + 1));
    const file = path.join(makeTempDir("htpasswd"), "htpasswd");
    fs.writeFileSync(file, lines.join("\n"));
    return { file, lines };
  }

  function htpasswdUsers(prefix: string): Record<string, Credentials> {
    const users = Object.fromEntries(
      ["deploy", "ci", "md5", "sha", "plain"].map((u) => [
        u,
        { username: `${prefix}-${u}`, password: uniquePassword(u) },
      ]),
    );
    for (const creds of Object.values(users)) secrets.addCredentials(creds);
    return users;
  }

  test("auth.htpasswd: bcrypt users log in, other lines are skipped with their line numbers", async () => {
    const users = htpasswdUsers("file");
    const { file, lines } = await htpasswdFile(users);
    const wharf = await start({ WHARF_ADMIN_PASSWORD: uniquePassword("file-admin") }, { htpasswd: file });
    fromFile = { wharf, file, lines, users };
    for (const u of ["deploy", "ci"]) assert.ok(await logsIn(wharf, users[u] as Credentials), u);
    for (const u of ["md5", "sha", "plain"]) assert.ok(!(await logsIn(wharf, users[u] as Credentials)), u);
    assert.deepEqual(
      audit(wharf, "htpasswd.skipped").map((l) => [l.file, l.line]),
      [4, 5, 6, 7].map((line) => [file, line]),
    );
    assert.deepEqual(
      audit(wharf, "user.created")
        .map((l) => l.user)
        .sort(),
      ["admin", "file-ci", "file-deploy"],
      "the htpasswd users, and an admin since the file names none",
    );
    await wharf.restart();
    assert.equal(audit(wharf, "user.created").length, 3, "an unchanged file imports nobody again");
  });

  test("auth.htpasswd: a user taken out of the file cannot log in after the restart (as with registry:v2)", async () => {
    if (!fromFile) throw new Error("needs the previous test's wharf");
    const { wharf, file, lines, users } = fromFile;
    // the operator removes ci's line (line 3) to take its access away, and restarts
    fs.writeFileSync(file, lines.filter((_, index) => index !== 2).join("\n"));
    await wharf.restart();
    assert.ok(await logsIn(wharf, users.deploy as Credentials), "deploy stays");
    assert.ok(!(await logsIn(wharf, users.ci as Credentials)), "ci was removed from the htpasswd file");
  });

  test("auth.htpasswd and WHARF_ADMIN_PASSWORD together: the first start still creates the admin", async () => {
    const users = htpasswdUsers("both");
    const { file } = await htpasswdFile(users);
    const admin = { username: "admin", password: uniquePassword("both-admin") };
    secrets.addCredentials(admin);
    const wharf = await start({ WHARF_ADMIN_PASSWORD: admin.password }, { htpasswd: file });
    assert.ok(await logsIn(wharf, users.deploy as Credentials), "the htpasswd user");
    // without an admin nobody may delete or manage anything, and the password given was ignored silently
    assert.ok(await logsIn(wharf, admin), "the admin from WHARF_ADMIN_PASSWORD");
  });

  test("without a config file, registry:v2's REGISTRY_AUTH_HTPASSWD_PATH turns authentication on", async () => {
    const users = htpasswdUsers("env");
    const { file } = await htpasswdFile(users);
    const wharf = await startWharf({
      dataDir: null,
      env: { ...proxyEnv(NOWHERE), REGISTRY_AUTH_HTPASSWD_PATH: file, WHARF_ADMIN_PASSWORD: "" },
    });
    started.push(wharf);
    assert.equal((await fetch(`${wharf.url}/v2/`)).status, 401);
    assert.ok(await logsIn(wharf, users.deploy as Credentials));
    assert.ok(!(await logsIn(wharf, users.md5 as Credentials)));
  });

  test("wharf user import: bcrypt users log in at once, skipped lines are named on stderr", async () => {
    const users = htpasswdUsers("cli");
    const { file } = await htpasswdFile(users);
    const result = await importHtpasswd(withEnv, file);
    assert.equal(result.stdout, "imported 2 users\n");
    const skipped = result.stderr.split("\n").filter((line) => line.includes(": skipped: "));
    assert.deepEqual(
      skipped.map((line) => /^(.*):(\d+): skipped: /.exec(line)?.slice(1)),
      [4, 5, 6, 7].map((line) => [file, String(line)]),
    );
    for (const u of ["deploy", "ci"]) assert.ok(await logsIn(withEnv, users[u] as Credentials), u);
    assert.ok(!(await logsIn(withEnv, users.md5 as Credentials)));
    assert.deepEqual(
      secrets.foundIn(result.stdout + result.stderr),
      [],
      "the command prints no hash or password",
    );
  });

  test("no password or hash appears in any log line (but the one first-admin line on stderr)", () => {
    assertNoSecretInFiles(started.flatMap(logFiles), secrets, (line) => FIRST_ADMIN.test(line));
  });
});
