// Issue 10, point 1: the admin API against a real wharf (the auth fixture: proxies of real
// docker-registry upstreams, hosted repositories, a group, rules, users). Every answer is checked
// against the OpenAPI document wharf serves; every operation in it is called; each is tried
// anonymously, as a reader and as an admin, by Basic, Bearer and the session cookie, with and
// without its CSRF token; and a reader sees only what the rules let them pull.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fetchToken } from "../harness/auth/bearer.js";
import { skopeoCopy } from "../harness/clients/skopeo.js";
import {
  type AuthFixture,
  proxyConfig,
  SERVICE,
  startAuthFixture,
  uniquePassword,
} from "../harness/fixtures/auth.js";
import { AdminApiClient, type AdminApiClient as Client } from "../harness/http/admin-api.js";
import { derivedImage } from "../harness/images/layered.js";
import { pushImage } from "../harness/images/push.js";
import { getImage } from "../harness/images/test-images.js";
import { makeTempDir, removeTempDir } from "../harness/system/tmp.js";
import type { Credentials } from "../harness/types.js";

const API = "/api/v1";

describe("admin API", () => {
  let fx: AuthFixture;
  let api: Client;

  const small = getImage("small");

  before(async () => {
    fx = await startAuthFixture({
      // Usage and the store's measurement show within a second; `cold` forgets what nobody pulled for a second.
      settings: { usage: { flush_interval: "1s" }, cache: { check_interval: "1s", max_size: "10GiB" } },
      extraRepositories: ({ hubUrl, hubCreds }) => ({
        cold: { ...proxyConfig(hubUrl, hubCreds), max_unused: "1s" },
      }),
    });
    api = await AdminApiClient.open(fx.wharf.url);
    // secret/app is carol's alone; internal holds team/app:v1 (the fixture's) and a second tag.
    await pushImage(
      derivedImage(small, "secret"),
      { host: fx.wharf.host, creds: fx.users.carol },
      "secret/app:hidden",
    );
    await pushImage(small, { host: fx.wharf.host, creds: fx.users.admin }, "internal/team/app:v2");
    await pushImage(
      derivedImage(small, "tool"),
      { host: fx.wharf.host, creds: fx.users.admin },
      "internal/team/tool:1",
    );
  });
  after(() => fx?.close());

  const realm = () => ({ realm: `${fx.wharf.url}/token`, service: SERVICE });

  /** A whole pull through wharf, as a client makes it. */
  async function pull(ref: string, creds?: Credentials): Promise<void> {
    const dir = makeTempDir("admin-api-pull");
    try {
      await skopeoCopy(`${fx.wharf.host}/${ref}`, dir, creds ? { creds } : {});
    } finally {
      await removeTempDir(dir);
    }
  }

  /** Asks until `check` holds (usage, measurements and activity are written in batches), or fails. */
  async function eventually<T>(
    ask: () => Promise<T>,
    check: (value: T) => boolean,
    what: string,
  ): Promise<T> {
    let last: T | undefined;
    for (let tries = 0; tries < 60; tries++) {
      last = await ask();
      if (check(last)) return last;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.fail(`${what}: ${JSON.stringify(last)}`);
  }

  describe("the OpenAPI document", () => {
    test("is OpenAPI 3.1, names every operation once, documents errors, and every schema compiles", async () => {
      const document = (await api.call("GET", `${API}/openapi.json`)).body as {
        openapi: string;
        paths: Record<
          string,
          Record<string, { operationId: string; responses: Record<string, unknown>; security: unknown[] }>
        >;
        components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
      };
      assert.equal(document.openapi, "3.1.0");
      const ids = Object.values(document.paths).flatMap((methods) =>
        Object.values(methods).map((op) => op.operationId),
      );
      assert.equal(new Set(ids).size, ids.length);
      for (const methods of Object.values(document.paths)) {
        for (const op of Object.values(methods)) {
          assert.ok(op.responses["401"] && op.responses["403"], `${op.operationId} documents 401 and 403`);
          assert.ok(op.security.length > 0, `${op.operationId} says how to authenticate`);
        }
      }
      assert.deepEqual(Object.keys(document.components.securitySchemes).sort(), [
        "basic",
        "bearer",
        "csrf",
        "session",
      ]);
      assert.ok(Object.keys(document.components.schemas).length > 20);
    });
  });

  describe("sessions", () => {
    test("anonymous callers are told who they are; a wrong password is refused and audited", async () => {
      const anonymous = await api.call("GET", `${API}/session`);
      assert.equal(anonymous.status, 200);
      assert.deepEqual(anonymous.body, { user: null, admin: false, via: "anonymous", authEnabled: true });
      const mark = fx.wharf.logMark();
      const wrong = await api.login(api.newSession(), { username: "alice", password: "not-her-password" });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.headers.get("set-cookie"), null);
      await fx.wharf.waitLog((line) => line.event === "login.failure" && line.via === "session", 5000, mark);
    });

    test("a login sets an HttpOnly, SameSite=Strict cookie (not Secure over plain HTTP) and a CSRF token", async () => {
      const session = api.newSession();
      const answer = await api.login(session, fx.users.alice);
      assert.equal(answer.status, 200);
      const cookie = answer.headers.get("set-cookie") ?? "";
      assert.match(cookie, /^wharf_session=[A-Za-z0-9_-]{43}; /);
      assert.match(cookie, /; HttpOnly/);
      assert.match(cookie, /; SameSite=Strict/);
      assert.doesNotMatch(cookie, /Secure/);
      assert.ok(session.csrf && session.csrf.length >= 40);
      const me = await api.call("GET", `${API}/session`, { auth: { session } });
      assert.equal((me.body as { user: string; via: string }).user, "alice");
      assert.equal((me.body as { via: string }).via, "session");
      assert.equal((me.body as { csrfToken: string }).csrfToken, session.csrf);
    });

    test("logging out needs the CSRF token, clears the cookie and ends the session", async () => {
      const session = api.newSession();
      await api.login(session, fx.users.bob);
      assert.equal(
        (await api.call("DELETE", `${API}/session`, { auth: { session }, csrf: false })).status,
        403,
      );
      const out = await api.call("DELETE", `${API}/session`, { auth: { session } });
      assert.equal(out.status, 200);
      assert.match(out.headers.get("set-cookie") ?? "", /^wharf_session=; .*Max-Age=0/);
      const after = await api.call("GET", `${API}/session`, { auth: { session } });
      assert.equal((after.body as { user: string | null }).user, null);
    });

    test("an API token is no password for a session: a session would drop its scopes", async () => {
      const created = await api.call("POST", `${API}/tokens`, {
        auth: { basic: fx.users.admin },
        body: { user: "alice", description: "session attempt" },
      });
      const secret = (created.body as { secret: string }).secret;
      assert.equal((await api.login(api.newSession(), { username: "alice", password: secret })).status, 401);
    });
  });

  describe("authorization and cross-site requests", () => {
    test("admin endpoints: anonymous 401, a reader 403, the admin by Basic 200", async () => {
      assert.equal((await api.call("GET", `${API}/users`)).status, 401);
      assert.equal((await api.call("GET", `${API}/users`, { auth: { basic: fx.users.alice } })).status, 403);
      assert.equal((await api.call("GET", `${API}/tokens`, { auth: { basic: fx.users.alice } })).status, 403);
      assert.equal((await api.call("GET", `${API}/users`, { auth: { basic: fx.users.admin } })).status, 200);
      const wrong = { username: "admin", password: "wrong-password" };
      assert.equal((await api.call("GET", `${API}/users`, { auth: { basic: wrong } })).status, 401);
    });

    test("Bearer: a token from /token for registry:catalog:* speaks for its user; an image-scoped one does not", async () => {
      const catalog = await fetchToken(realm(), ["registry:catalog:*"], fx.users.admin);
      const users = await api.call("GET", `${API}/users`, { auth: { bearer: catalog } });
      assert.equal(users.status, 200);
      const pullOnly = await fetchToken(realm(), ["repository:internal/team/app:pull"], fx.users.admin);
      assert.equal((await api.call("GET", `${API}/users`, { auth: { bearer: pullOnly } })).status, 401);
      assert.equal((await api.call("GET", `${API}/users`, { auth: { bearer: "not.a.token" } })).status, 401);
      const aliceCatalog = await fetchToken(realm(), ["registry:catalog:*"], fx.users.alice);
      assert.equal((await api.call("GET", `${API}/users`, { auth: { bearer: aliceCatalog } })).status, 403);
    });

    test("with the session cookie, a change needs the session's own CSRF token and this origin", async () => {
      const session = api.newSession();
      await api.login(session, fx.users.admin);
      const user = { name: "csrf-victim", password: uniquePassword("csrf") };
      const refused = [
        await api.call("POST", `${API}/users`, { auth: { session }, body: user, csrf: false }),
        await api.call("POST", `${API}/users`, { auth: { session }, body: user, csrf: "x".repeat(43) }),
        await api.call("POST", `${API}/users`, {
          auth: { session },
          body: user,
          headers: { origin: "http://evil.example" },
        }),
        await api.call("POST", `${API}/users`, {
          auth: { session },
          body: user,
          headers: { "sec-fetch-site": "cross-site" },
        }),
      ];
      assert.deepEqual(
        refused.map((a) => a.status),
        [403, 403, 403, 403],
      );
      const listed = await api.call("GET", `${API}/users`, { auth: { session } });
      assert.ok(!(listed.body as { users: Array<{ name: string }> }).users.some((u) => u.name === user.name));
      const sameOrigin = await api.call("POST", `${API}/users`, {
        auth: { session },
        body: user,
        headers: { origin: fx.wharf.url },
      });
      assert.equal(sameOrigin.status, 201);
      // A form cannot send JSON across sites without a preflight: other bodies are refused.
      const form = await api.call("POST", `${API}/users`, {
        auth: { session },
        raw: { type: "application/x-www-form-urlencoded", text: "name=formed&password=12345678" },
      });
      assert.equal(form.status, 415);
    });

    test("Basic needs no CSRF token (no browser sends it on its own), but a foreign Origin is refused all the same", async () => {
      const body = { name: "scripted", password: uniquePassword("scripted") };
      assert.equal(
        (await api.call("POST", `${API}/users`, { auth: { basic: fx.users.admin }, body })).status,
        201,
      );
      const foreign = await api.call("POST", `${API}/users`, {
        auth: { basic: fx.users.admin },
        body,
        headers: { origin: "http://evil.example" },
      });
      assert.equal(foreign.status, 403);
    });

    test("a login from another site's page is refused (login CSRF)", async () => {
      const answer = await api.call("POST", `${API}/session`, {
        body: { username: "alice", password: fx.users.alice.password },
        headers: { origin: "http://evil.example" },
      });
      assert.equal(answer.status, 403);
    });
  });

  describe("users and tokens", () => {
    test("an admin creates a user with a generated password (shown once), who can then log in", async () => {
      const created = await api.call("POST", `${API}/users`, {
        auth: { basic: fx.users.admin },
        body: { name: "dave", groups: ["devs"] },
      });
      assert.equal(created.status, 201);
      const { user, password } = created.body as {
        user: { name: string; groups: string[] };
        password: string;
      };
      assert.deepEqual([user.name, user.groups], ["dave", ["devs"]]);
      assert.ok(password.length >= 16);
      fx.secrets.add(password);
      assert.equal((await api.login(api.newSession(), { username: "dave", password })).status, 200);
      const listed = await api.call("GET", `${API}/users`, { auth: { basic: fx.users.admin } });
      assert.ok((listed.body as { users: Array<{ name: string }> }).users.some((u) => u.name === "dave"));
      assert.ok(!JSON.stringify(listed.body).includes(password));
    });

    test("bad input is a 400 naming the field; a short password too", async () => {
      const bad = await api.call("POST", `${API}/users`, {
        auth: { basic: fx.users.admin },
        body: { name: "" },
      });
      assert.equal(bad.status, 400);
      assert.match(JSON.stringify(bad.body), /name/);
      const short = await api.call("POST", `${API}/users`, {
        auth: { basic: fx.users.admin },
        body: { name: "eve", password: "short" },
      });
      assert.equal(short.status, 400);
      const invalidName = await api.call("POST", `${API}/users`, {
        auth: { basic: fx.users.admin },
        body: { name: "no spaces allowed", password: uniquePassword("x") },
      });
      assert.equal(invalidName.status, 400);
    });

    test("the last administrator can be neither deleted nor demoted through the API", async () => {
      const deleted = await api.call("DELETE", `${API}/users/admin`, { auth: { basic: fx.users.admin } });
      assert.equal(deleted.status, 409);
      const demoted = await api.call("POST", `${API}/users`, {
        auth: { basic: fx.users.admin },
        body: { name: "admin", password: fx.users.admin.password, admin: false },
      });
      assert.equal(demoted.status, 409);
      assert.equal((await api.call("GET", `${API}/users`, { auth: { basic: fx.users.admin } })).status, 200);
    });

    test("deleting a user ends its sessions at once", async () => {
      const password = uniquePassword("frank");
      await api.call("POST", `${API}/users`, {
        auth: { basic: fx.users.admin },
        body: { name: "frank", password },
      });
      const session = api.newSession();
      await api.login(session, { username: "frank", password });
      assert.equal(
        (await api.call("DELETE", `${API}/users/frank`, { auth: { basic: fx.users.admin } })).status,
        200,
      );
      const me = await api.call("GET", `${API}/session`, { auth: { session } });
      assert.equal((me.body as { user: string | null }).user, null);
      assert.equal(
        (await api.call("DELETE", `${API}/users/frank`, { auth: { basic: fx.users.admin } })).status,
        404,
      );
    });

    test("an API token: created for a user (secret once), works as that user's password, revoked at once", async () => {
      const created = await api.call("POST", `${API}/tokens`, {
        auth: { basic: fx.users.admin },
        body: {
          user: "alice",
          description: "ci",
          scopes: [{ repositories: ["internal"], names: ["alice/**"], actions: ["pull", "push"] }],
          expiresInDays: 30,
        },
      });
      assert.equal(created.status, 201);
      const { token, secret } = created.body as {
        token: { id: string; state: string; expiresAt: string };
        secret: string;
      };
      assert.equal(token.state, "active");
      assert.ok(Date.parse(token.expiresAt) > Date.now() + 29 * 86_400_000);
      fx.secrets.add(secret);
      const asToken = { username: "alice", password: secret };
      const me = await api.call("GET", `${API}/session`, { auth: { basic: asToken } });
      assert.deepEqual(
        [(me.body as { user: string }).user, (me.body as { via: string }).via],
        ["alice", "basic"],
      );
      const listed = await api.call("GET", `${API}/tokens`, { auth: { basic: fx.users.admin } });
      assert.ok(!JSON.stringify(listed.body).includes(secret.slice(-20)));
      const revoked = await api.call("DELETE", `${API}/tokens/${token.id}`, {
        auth: { basic: fx.users.admin },
      });
      assert.equal((revoked.body as { state: string }).state, "revoked");
      assert.equal((await api.call("GET", `${API}/session`, { auth: { basic: asToken } })).status, 401);
      assert.equal(
        (await api.call("DELETE", `${API}/tokens/${token.id}`, { auth: { basic: fx.users.admin } })).status,
        404,
      );
      const nobody = await api.call("POST", `${API}/tokens`, {
        auth: { basic: fx.users.admin },
        body: { user: "nobody" },
      });
      assert.equal(nobody.status, 404);
    });
  });

  describe("repositories and images, under the rules", () => {
    type Listed = {
      repositories: Array<{
        name: string;
        images: number;
        members: string[];
        seesAll: boolean;
        actions: string[];
      }>;
    };
    const listed = async (creds: Credentials | undefined) =>
      (await api.call("GET", `${API}/repositories`, creds ? { auth: { basic: creds } } : {})).body as Listed;
    const names = (list: Listed) => list.repositories.map((r) => r.name).sort();

    test("each caller lists the repositories the rules let them pull from, and a group names only the members they see", async () => {
      assert.deepEqual(names(await listed(undefined)), ["all", "hub"]);
      const alice = await listed(fx.users.alice);
      assert.deepEqual(names(alice), ["all", "hub", "internal"]);
      assert.deepEqual(alice.repositories.find((r) => r.name === "all")?.members, ["internal", "hub"]);
      assert.deepEqual(names(await listed(fx.users.bob)), ["all", "hub", "internal", "vendor"]);
      assert.deepEqual(names(await listed(fx.users.carol)), ["all", "hub", "internal", "secret"]);
      const admin = await listed(fx.users.admin);
      assert.deepEqual(names(admin), ["all", "cold", "hub", "internal", "secret", "vendor"]);
      assert.deepEqual(admin.repositories.find((r) => r.name === "all")?.members, [
        "internal",
        "secret",
        "hub",
        "vendor",
      ]);
    });

    test("counts cover only what the caller may pull: the group's count leaks nothing of secret", async () => {
      const count = (list: Listed, name: string) => list.repositories.find((r) => r.name === name)?.images;
      const alice = await listed(fx.users.alice);
      const admin = await listed(fx.users.admin);
      // internal: team/app (tags v1 and v2 on one image) and team/tool; secret: app.
      assert.equal(count(alice, "internal"), 2);
      assert.equal(count(admin, "secret"), 1);
      assert.equal(count(admin, "all"), 3);
      assert.equal(count(alice, "all"), 2);
      assert.equal(alice.repositories.find((r) => r.name === "all")?.seesAll, false);
      assert.equal(admin.repositories.find((r) => r.name === "all")?.seesAll, true);
    });

    test("a hidden repository is as absent as one that does not exist, by every endpoint", async () => {
      const alice = { basic: fx.users.alice };
      for (const path of [
        `${API}/repositories/secret`,
        `${API}/repositories/secret/images`,
        `${API}/repositories/secret/image?name=app&reference=hidden`,
        `${API}/repositories/nothing-here`,
      ]) {
        const answer = await api.call("GET", path, { auth: alice });
        assert.equal(answer.status, 404, path);
      }
      const viaGroup = await api.call("GET", `${API}/repositories/all/image?name=app&reference=hidden`, {
        auth: alice,
      });
      assert.equal(viaGroup.status, 404);
      const search = await api.call("GET", `${API}/repositories/all/images?q=hidden`, { auth: alice });
      assert.deepEqual((search.body as { total: number }).total, 0);
      const carol = await api.call("GET", `${API}/repositories/all/images?q=hidden`, {
        auth: { basic: fx.users.carol },
      });
      assert.deepEqual(
        (carol.body as { images: Array<{ repository: string; name: string }> }).images.map((i) => [
          i.repository,
          i.name,
        ]),
        [["secret", "app"]],
      );
    });

    test("images: searched by name or tag, filtered, sorted and paged, with tags, platforms, sizes and times", async () => {
      const admin = { basic: fx.users.admin };
      type Page = {
        images: Array<{
          name: string;
          tags: string[];
          platforms: string[];
          size: number;
          kind: string;
          digest: string;
        }>;
        total: number;
        offset: number;
        limit: number;
      };
      const page = async (query: string) =>
        (await api.call("GET", `${API}/repositories/internal/images${query}`, { auth: admin })).body as Page;
      const all = await page("");
      assert.equal(all.total, 2);
      assert.deepEqual(
        all.images.map((i) => [i.name, i.tags]),
        [
          ["team/app", ["v1", "v2"]],
          ["team/tool", ["1"]],
        ],
      );
      for (const image of all.images) {
        assert.deepEqual(image.platforms, ["linux/amd64"]);
        assert.equal(image.kind, "image");
        assert.ok(image.size > 1000);
      }
      assert.deepEqual(
        (await page("?q=V2")).images.map((i) => i.name),
        ["team/app"],
      );
      assert.deepEqual(
        (await page("?q=tool")).images.map((i) => i.name),
        ["team/tool"],
      );
      const sizes = (await page("?sort=size&order=desc")).images.map((i) => i.size);
      assert.deepEqual(
        sizes,
        [...sizes].sort((a, b) => b - a),
      );
      const second = await page("?limit=1&offset=1");
      assert.deepEqual(
        [second.total, second.offset, second.limit, second.images[0]?.digest],
        [2, 1, 1, all.images[1]?.digest],
      );
      assert.equal((await page("?tagged=false")).total, 0);
      assert.equal((await page("?platform=linux/arm64")).total, 0);
      assert.equal((await page("?platform=linux/amd64")).total, 2);
      assert.equal(
        (await api.call("GET", `${API}/repositories/internal/images?limit=100000`, { auth: admin })).status,
        400,
      );
      assert.equal(
        (await api.call("GET", `${API}/repositories/internal/images?sort=mood`, { auth: admin })).status,
        400,
      );
    });

    test("one image: manifest, platform with config and layers, tags, pull commands for the host used, what the caller may do", async () => {
      const detail = await api.call("GET", `${API}/repositories/internal/image?name=team/app&reference=v1`, {
        auth: { basic: fx.users.alice },
      });
      assert.equal(detail.status, 200);
      const body = detail.body as {
        digest: string;
        platforms: Array<{ platform: string; layers: unknown[]; config: { os: string } }>;
        pull: Array<{ client: string; command: string }>;
        canDelete: boolean;
        manifest: { schemaVersion: number };
      };
      assert.equal(body.digest, small.digest);
      assert.equal(body.manifest.schemaVersion, 2);
      assert.equal(body.platforms[0]?.platform, "linux/amd64");
      assert.equal(body.platforms[0]?.config.os, "linux");
      assert.ok((body.platforms[0]?.layers.length ?? 0) > 0);
      assert.equal(body.canDelete, false);
      assert.deepEqual(
        body.pull.map((p) => p.client),
        ["docker", "podman", "nerdctl", "ctr", "skopeo"],
      );
      assert.ok(body.pull.every((p) => p.command.includes(`${fx.wharf.host}/internal/team/app:v1`)));
      const asAdmin = await api.call(
        "GET",
        `${API}/repositories/all/image?name=team/app&reference=${small.digest}`,
        {
          auth: { basic: fx.users.admin },
        },
      );
      assert.equal((asAdmin.body as { repository: string; canDelete: boolean }).repository, "internal");
      assert.equal((asAdmin.body as { canDelete: boolean }).canDelete, true);
    });

    test("deletes: refused to a reader and on a proxy; a tag by a user the rules allow, then the whole image", async () => {
      const path = (name: string, reference: string, repo = "internal") =>
        `${API}/repositories/${repo}/image?name=${encodeURIComponent(name)}&reference=${encodeURIComponent(reference)}`;
      assert.equal((await api.call("DELETE", path("team/app", "v2"))).status, 401);
      assert.equal(
        (await api.call("DELETE", path("team/app", "v2"), { auth: { basic: fx.users.alice } })).status,
        403,
      );
      // bob's group may delete team/** in internal.
      const tag = await api.call("DELETE", path("team/app", "v2"), { auth: { basic: fx.users.bob } });
      assert.deepEqual(tag.body, { deleted: "tag", name: "team/app", reference: "v2" });
      const gone = await api.call("DELETE", path("team/app", "v2"), { auth: { basic: fx.users.bob } });
      assert.equal(gone.status, 404);
      const tool = await api.call("GET", path("team/tool", "1"), { auth: { basic: fx.users.bob } });
      const digest = (tool.body as { digest: string }).digest;
      const image = await api.call("DELETE", path("team/tool", digest), { auth: { basic: fx.users.bob } });
      assert.deepEqual(image.body, { deleted: "manifest", name: "team/tool", reference: digest });
      const after = await api.call("GET", `${API}/repositories/internal/images?q=tool`, {
        auth: { basic: fx.users.bob },
      });
      assert.equal((after.body as { total: number }).total, 0);
      // A proxy's cached image: deletes are not a proxy's (eviction is).
      const pulled = await fetch(`${fx.wharf.url}/v2/hub/lib/app/manifests/v1`, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      });
      assert.equal(pulled.status, 200);
      const proxy = await api.call("DELETE", path("lib/app", "v1", "hub"), {
        auth: { basic: fx.users.admin },
      });
      assert.equal(proxy.status, 405);
    });

    test("activity: a delete shows to whoever may pull the image, carol's secret never to alice", async () => {
      let events: Array<{
        kind: string;
        repository: string | null;
        name: string | null;
        user: string | null;
      }> = [];
      for (let tries = 0; tries < 50; tries++) {
        const answer = await api.call("GET", `${API}/activity?limit=200`, {
          auth: { basic: fx.users.alice },
        });
        events = (answer.body as { events: typeof events }).events;
        if (events.some((e) => e.kind === "delete")) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.ok(events.some((e) => e.kind === "delete" && e.name === "team/app" && e.user === "bob"));
      assert.ok(!events.some((e) => e.repository === "secret"));
      assert.ok(!events.some((e) => e.kind === "login-refused"));
    });
  });

  describe("what the cache saves, its use, its bounds", () => {
    type Repo = {
      name: string;
      cache: {
        hits: number;
        misses: number;
        hitRatio: number | null;
        bytesServed: number;
        bytesFetched: number;
        bytesSaved: number;
      } | null;
      size: { bytes: number | null; cap: number | null };
      sync: unknown[];
    };
    type Listing = {
      repositories: Repo[];
      store: { bytes: number; cap: number | null; freeBytes: number | null } | null;
      cache: Repo["cache"];
    };
    const listing = async (creds: Credentials) =>
      (await api.call("GET", `${API}/repositories`, { auth: { basic: creds } })).body as Listing;

    test("a cold pull then a warm one: misses, hits, bytes served and fetched, the store against its cap", async () => {
      await pull("hub/lib/app:v1");
      await pull("hub/lib/app:v1");
      const admin = await eventually(
        () => listing(fx.users.admin),
        (l) => (l.repositories.find((r) => r.name === "hub")?.size.bytes ?? 0) > 0,
        "the store is measured",
      );
      const hub = admin.repositories.find((r) => r.name === "hub");
      assert.ok(hub?.cache && hub.cache.misses > 0 && hub.cache.hits > 0, JSON.stringify(hub?.cache));
      assert.ok(hub.cache.bytesServed > hub.cache.bytesFetched, "the warm pull came from the store");
      assert.equal(hub.cache.bytesSaved, hub.cache.bytesServed - hub.cache.bytesFetched);
      assert.ok((hub.cache.hitRatio ?? 0) > 0 && (hub.cache.hitRatio ?? 1) < 1);
      assert.deepEqual(hub.sync, []);
      assert.equal(admin.store?.cap, 10 * 1024 ** 3);
      assert.ok((admin.store?.bytes ?? 0) >= (hub.size.bytes ?? 0));
      assert.ok((admin.store?.freeBytes ?? 0) > 0);
      assert.ok(admin.cache && admin.cache.hits >= hub.cache.hits);
      // alice may not see all of the group `all`: neither its traffic nor the store's.
      const alice = await listing(fx.users.alice);
      assert.equal(alice.store, null);
      assert.equal(alice.cache, null);
      assert.equal(alice.repositories.find((r) => r.name === "all")?.cache, null);
      assert.ok(alice.repositories.find((r) => r.name === "hub")?.cache, "hub she may see whole");
    });

    test("usage: pulls counted and last pulled per image and tag, sortable", async () => {
      type Page = { images: Array<{ name: string; pulls: number | null; lastPulledAt: string | null }> };
      const page = await eventually(
        async () =>
          (
            await api.call("GET", `${API}/repositories/hub/images?sort=pulls&order=desc`, {
              auth: { basic: fx.users.alice },
            })
          ).body as Page,
        (p) => (p.images[0]?.pulls ?? 0) >= 2,
        "two pulls recorded",
      );
      assert.equal(page.images[0]?.name, "lib/app");
      assert.ok(Date.parse(page.images[0]?.lastPulledAt ?? "") > Date.now() - 120_000);
      const detail = (
        await api.call("GET", `${API}/repositories/hub/image?name=lib/app&reference=v1`, {
          auth: { basic: fx.users.alice },
        })
      ).body as { tags: Array<{ tag: string; pulls: number | null; lastPulledAt: string | null }> };
      assert.ok((detail.tags[0]?.pulls ?? 0) >= 2);
    });

    test("activity: the first pull of new content and a push, with who pushed", async () => {
      type Events = {
        events: Array<{
          kind: string;
          repository: string | null;
          name: string | null;
          reference: string | null;
          user: string | null;
        }>;
      };
      await pushImage(
        derivedImage(small, "pushed-now"),
        { host: fx.wharf.host, creds: fx.users.alice },
        "internal/alice/app:1",
      );
      const events = await eventually(
        async () =>
          (await api.call("GET", `${API}/activity?limit=200`, { auth: { basic: fx.users.alice } }))
            .body as Events,
        (e) => e.events.some((x) => x.kind === "push" && x.name === "alice/app"),
        "the push is recorded",
      );
      assert.ok(
        events.events.some(
          (e) =>
            e.kind === "push" && e.repository === "internal" && e.reference === "1" && e.user === "alice",
        ),
      );
      assert.ok(
        events.events.some((e) => e.kind === "first-pull" && e.repository === "hub" && e.name === "lib/app"),
      );
    });

    test("the time series survives a restart: what the last minute counted is written at the stop", async () => {
      await fx.wharf.restart();
      const series = (
        await api.call("GET", `${API}/series?range=day&repository=hub`, { auth: { basic: fx.users.admin } })
      ).body as {
        points: Array<{ hits: number; misses: number; bytesServed: number; bytesFetched: number }>;
      };
      const sum = (pick: (p: (typeof series.points)[number]) => number) =>
        series.points.reduce((a, p) => a + pick(p), 0);
      assert.ok(
        sum((p) => p.hits) > 0 && sum((p) => p.misses) > 0,
        JSON.stringify(series.points.filter((p) => p.hits + p.misses > 0)),
      );
      assert.ok(sum((p) => p.bytesServed) > sum((p) => p.bytesFetched));
      const month = (
        await api.call("GET", `${API}/series?range=month&repository=hub`, { auth: { basic: fx.users.admin } })
      ).body as { points: Array<{ hits: number }> };
      assert.equal(
        month.points.reduce((a, p) => a + p.hits, 0),
        sum((p) => p.hits),
      );
    });

    test("prefetch: a user's job pulls an image through the proxy; its state is for them and admins alone", async () => {
      const body = { name: "lib/app", reference: "v1" };
      assert.equal((await api.call("POST", `${API}/repositories/cold/prefetch`, { body })).status, 401);
      assert.equal(
        (
          await api.call("POST", `${API}/repositories/secret/prefetch`, {
            auth: { basic: fx.users.alice },
            body,
          })
        ).status,
        404,
      );
      const started = await api.call("POST", `${API}/repositories/hub/prefetch`, {
        auth: { basic: fx.users.alice },
        body,
      });
      assert.equal(started.status, 202);
      const id = (started.body as { id: string }).id;
      const done = await eventually(
        async () =>
          (await api.call("GET", `${API}/jobs/${id}`, { auth: { basic: fx.users.alice } })).body as {
            state: string;
            blobs: number | null;
            blobsFetched: number | null;
          },
        (job) => job.state !== "running",
        "the prefetch ends",
      );
      assert.equal(done.state, "done");
      assert.ok((done.blobs ?? 0) > 0);
      assert.equal(done.blobsFetched, 0, "hub had it all already");
      assert.equal(
        (await api.call("GET", `${API}/jobs/${id}`, { auth: { basic: fx.users.bob } })).status,
        404,
      );
      assert.equal(
        (await api.call("GET", `${API}/jobs/${id}`, { auth: { basic: fx.users.admin } })).status,
        200,
      );
      const unknown = await api.call("POST", `${API}/repositories/hub/prefetch`, {
        auth: { basic: fx.users.alice },
        body: { name: "lib/nothing", reference: "v1" },
      });
      const failed = await eventually(
        async () =>
          (
            await api.call("GET", `${API}/jobs/${(unknown.body as { id: string }).id}`, {
              auth: { basic: fx.users.alice },
            })
          ).body as { state: string; error: string | null },
        (job) => job.state !== "running",
        "the failing prefetch ends",
      );
      assert.equal(failed.state, "failed");
      assert.ok(failed.error);
    });

    test("prune: a dry run lists what max_unused lets go, the run evicts it, and the eviction is activity", async () => {
      const admin = { basic: fx.users.admin };
      assert.equal(
        (await api.call("POST", `${API}/prune`, { auth: { basic: fx.users.alice }, body: { dryRun: true } }))
          .status,
        403,
      );
      const job = await api.call("POST", `${API}/repositories/cold/prefetch`, {
        auth: admin,
        body: { name: "lib/app", reference: "v1" },
      });
      await eventually(
        async () =>
          (await api.call("GET", `${API}/jobs/${(job.body as { id: string }).id}`, { auth: admin })).body as {
            state: string;
          },
        (j) => j.state === "done",
        "cold is filled",
      );
      await new Promise((resolve) => setTimeout(resolve, 1500));
      type Result = {
        dryRun: boolean;
        evictions: Array<{ repository: string; name: string; reason: string; bytes: number }>;
        bytes: number;
      };
      const dry = (await api.call("POST", `${API}/prune`, { auth: admin, body: { dryRun: true } }))
        .body as Result;
      const planned = dry.evictions.filter((e) => e.repository === "cold");
      assert.deepEqual(
        planned.map((e) => [e.name, e.reason]),
        [["lib/app", "unused"]],
      );
      const images = async () =>
        (
          (await api.call("GET", `${API}/repositories/cold/images`, { auth: admin })).body as {
            total: number;
          }
        ).total;
      // The keeper may have evicted it meanwhile by itself (max_unused is swept hourly, at its start too).
      const before = await images();
      const run = (await api.call("POST", `${API}/prune`, { auth: admin, body: { dryRun: false } }))
        .body as Result;
      assert.equal(run.dryRun, false);
      if (before > 0) assert.ok(run.evictions.some((e) => e.repository === "cold" && e.name === "lib/app"));
      assert.equal(await images(), 0);
      await eventually(
        async () =>
          (await api.call("GET", `${API}/activity?limit=200`, { auth: admin })).body as {
            events: Array<{ kind: string; repository: string | null }>;
          },
        (e) => e.events.some((x) => x.kind === "eviction" && x.repository === "cold"),
        "the eviction is recorded",
      );
    });
  });

  describe("time series and activity", () => {
    test("the series has a point per minute of the day (per hour of the month), over the repositories one may see whole", async () => {
      const day = await api.call("GET", `${API}/series?range=day`, { auth: { basic: fx.users.alice } });
      const body = day.body as { resolution: string; repositories: string[]; points: Array<{ at: string }> };
      assert.equal(body.resolution, "minute");
      assert.equal(body.points.length, 1440);
      assert.equal(Date.parse(body.points[1]?.at ?? "") - Date.parse(body.points[0]?.at ?? ""), 60_000);
      // alice may pull all of hub and internal; of the group `all` she may not see secret or vendor.
      assert.deepEqual(body.repositories, ["hub", "internal"]);
      const month = await api.call("GET", `${API}/series?range=month`, { auth: { basic: fx.users.bob } });
      const monthly = month.body as { resolution: string; repositories: string[]; points: unknown[] };
      assert.equal(monthly.resolution, "hour");
      assert.equal(monthly.points.length, 720);
      assert.deepEqual(monthly.repositories, ["hub", "internal", "vendor"]);
      const admin = await api.call("GET", `${API}/series`, { auth: { basic: fx.users.admin } });
      assert.deepEqual((admin.body as { repositories: string[] }).repositories, [
        "cold",
        "hub",
        "internal",
        "secret",
        "vendor",
      ]);
      const anonymous = await api.call("GET", `${API}/series`);
      assert.deepEqual((anonymous.body as { repositories: string[] }).repositories, ["hub"]);
      assert.equal(
        (await api.call("GET", `${API}/series?repository=secret`, { auth: { basic: fx.users.alice } }))
          .status,
        404,
      );
      assert.equal((await api.call("GET", `${API}/series?range=year`)).status, 400);
    });

    test("refused logins are activity an admin sees, counted per minute; a reader does not see them", async () => {
      for (let i = 0; i < 3; i++)
        await api.login(api.newSession(), { username: "mallory", password: `guess-${i}` });
      let refused: { count: number; user: string } | undefined;
      for (let tries = 0; tries < 50 && !refused; tries++) {
        const events = await api.call("GET", `${API}/activity`, { auth: { basic: fx.users.admin } });
        refused = (
          events.body as { events: Array<{ kind: string; user: string; count: number }> }
        ).events.find((e) => e.kind === "login-refused" && e.user === "mallory");
        if (!refused) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(refused?.count, 3);
      const alice = await api.call("GET", `${API}/activity`, { auth: { basic: fx.users.alice } });
      assert.ok(
        !(alice.body as { events: Array<{ kind: string }> }).events.some((e) => e.kind === "login-refused"),
      );
    });
  });

  describe("coverage", () => {
    test("every operation the document lists was called above, and answered as the document says", () => {
      const missed = api.operationIds.filter((id) => !api.called.has(id));
      assert.deepEqual(missed, []);
    });
  });
});
