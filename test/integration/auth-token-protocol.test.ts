// Issue 4, point 1 (and point 5's bad tokens): Docker's registry token protocol over real sockets.
// The challenge's exact shape, the token endpoint (GET with Basic or anonymous, POST password
// grant) granting exactly what the rules give each user, tokens used and refused, Basic on
// registry requests, forged and stale tokens, and the signing key kept across restarts.
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { jwtVerify } from "jose";
import { basicAuthorization, requestToken, type TokenRealm } from "../harness/auth/bearer.js";
import {
  handMadeJwt,
  hs256WithPublicKey,
  jwtPayload,
  registryClaims,
  signedWith,
  tampered,
} from "../harness/auth/jwt.js";
import { assertNoSecretInFiles } from "../harness/auth/secrets.js";
import { bearerChallenge } from "../harness/auth/token-flow.js";
import { type AuthFixture, SERVICE, startAuthFixture } from "../harness/fixtures/auth.js";
import { ACCEPT_MANIFESTS, errorCodes, rawRequest, sha256 } from "../harness/http/requests.js";
import { getImage } from "../harness/images/test-images.js";
import type { Credentials } from "../harness/types.js";

describe("the registry token protocol", () => {
  let fx: AuthFixture;
  let realm: TokenRealm;
  let keyPath: string;
  const manifest = "/v2/internal/team/app/manifests/v1";

  before(async () => {
    fx = await startAuthFixture();
    realm = { realm: `${fx.wharf.url}/token`, service: SERVICE };
    keyPath = path.join(fx.wharf.dataDir, "auth", "token-signing-key.pem");
  });
  after(() => fx?.close());

  /** A token for `scopes`, remembered as a secret. */
  async function token(scopes: string[], creds?: Credentials): Promise<string> {
    const answer = await requestToken(realm, scopes, creds);
    assert.equal(answer.status, 200, answer.body);
    assert.ok(answer.token);
    fx.secrets.add(answer.token);
    return answer.token;
  }

  const bearer = (value: string) => ({ authorization: `Bearer ${value}`, accept: ACCEPT_MANIFESTS });

  test("GET /v2/ without credentials: 401 with exactly the Bearer challenge", async () => {
    const res = await rawRequest(fx.wharf.url, "/v2/");
    assert.equal(res.status, 401);
    assert.equal(
      res.headers["www-authenticate"],
      `Bearer realm="http://${fx.wharf.host}/token",service="${SERVICE}"`,
    );
    assert.deepEqual(errorCodes(res.body), ["UNAUTHORIZED"]);
  });

  test("a repository request without credentials: the challenge names the scope it needs", async () => {
    const cases: Array<[method: string, p: string, scope: string]> = [
      ["GET", manifest, "repository:internal/team/app:pull"],
      ["HEAD", `/v2/secret/app/blobs/sha256:${"0".repeat(64)}`, "repository:secret/app:pull"],
      ["POST", "/v2/internal/team/app/blobs/uploads/", "repository:internal/team/app:pull,push"],
      ["PUT", "/v2/all/team/app/manifests/v2", "repository:all/team/app:pull,push"],
      ["DELETE", manifest, "repository:internal/team/app:delete"],
      ["GET", "/v2/internal/team/app/tags/list", "repository:internal/team/app:pull"],
    ];
    for (const [method, p, scope] of cases) {
      const res = await rawRequest(fx.wharf.url, p, { method });
      assert.equal(res.status, 401, `${method} ${p}`);
      assert.equal(
        res.headers["www-authenticate"],
        `Bearer realm="http://${fx.wharf.host}/token",service="${SERVICE}",scope="${scope}"`,
      );
    }
    // anonymous pull of the public proxy needs no token at all
    const hub = await rawRequest(fx.wharf.url, "/v2/hub/lib/app/manifests/v1", {
      headers: { accept: ACCEPT_MANIFESTS },
    });
    assert.equal(hub.status, 200);
  });

  describe("GET /token grants each principal exactly what the rules give it", () => {
    const scopes = [
      "repository:hub/lib/app:pull,push",
      "repository:internal/team/app:pull,push,delete",
      "repository:secret/app:pull",
      "repository:all/team/app:pull,push",
      "registry:catalog:*",
    ];
    const entry = (name: string, actions: string[]) => ({ type: "repository", name, actions });
    const expected: Record<string, object[]> = {
      anonymous: [entry("hub/lib/app", ["pull"]), entry("all/team/app", ["pull"])],
      alice: [
        entry("hub/lib/app", ["pull"]),
        entry("internal/team/app", ["pull"]),
        entry("all/team/app", ["pull"]),
        { type: "registry", name: "catalog", actions: ["*"] },
      ],
      bob: [
        entry("hub/lib/app", ["pull"]),
        entry("internal/team/app", ["pull", "push", "delete"]),
        entry("all/team/app", ["pull", "push"]),
        { type: "registry", name: "catalog", actions: ["*"] },
      ],
      carol: [
        entry("hub/lib/app", ["pull"]),
        entry("internal/team/app", ["pull"]),
        entry("secret/app", ["pull"]),
        entry("all/team/app", ["pull"]),
        { type: "registry", name: "catalog", actions: ["*"] },
      ],
    };
    for (const [who, access] of Object.entries(expected)) {
      test(who, async () => {
        const creds = who === "anonymous" ? undefined : fx.users[who as "alice" | "bob" | "carol"];
        const jwt = await token(scopes, creds);
        // signed with the key in the data directory, for this service
        const key = createPublicKey(fs.readFileSync(keyPath, "utf8"));
        const { payload, protectedHeader } = await jwtVerify(jwt, key, {
          issuer: "wharf",
          audience: SERVICE,
        });
        assert.equal(protectedHeader.alg, "ES256");
        assert.equal(payload.sub, creds?.username ?? "");
        assert.equal(Number(payload.exp) - Number(payload.iat), 60, "token_ttl: 60s");
        assert.deepEqual(payload.access, access);
      });
    }
  });

  test("GET /token with a wrong password or an unknown user: 401 and no token", async () => {
    for (const creds of [
      { username: "bob", password: `${fx.users.bob.password}x` },
      { username: "bob", password: fx.users.alice.password },
      { username: "mallory", password: "mallory-password" },
      { username: "bob", password: "" },
    ]) {
      const answer = await requestToken(realm, ["repository:hub/lib/app:pull"], creds);
      assert.equal(answer.status, 401, creds.username);
      assert.equal(answer.token, undefined);
      assert.equal((JSON.parse(answer.body) as { error?: string }).error, "invalid_grant");
    }
  });

  describe("POST /token: the OAuth2 password grant (containerd's way)", () => {
    async function post(form: Record<string, string>) {
      const res = await fetch(`${fx.wharf.url}/token`, { method: "POST", body: new URLSearchParams(form) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }
    const form = (password: string) => ({
      grant_type: "password",
      service: SERVICE,
      client_id: "wharf-test",
      username: "bob",
      password,
      scope: "repository:internal/team/app:pull,push repository:secret/app:pull",
    });

    test("right password: an access token carrying what bob may do", async () => {
      const { status, body } = await post(form(fx.users.bob.password));
      assert.equal(status, 200);
      assert.equal(body.expires_in, 60);
      const jwt = String(body.access_token);
      fx.secrets.add(jwt);
      assert.deepEqual(jwtPayload(jwt).access, [
        { type: "repository", name: "internal/team/app", actions: ["pull", "push"] },
      ]);
      const res = await rawRequest(fx.wharf.url, manifest, { headers: bearer(jwt) });
      assert.equal(res.status, 200);
    });

    test("wrong password: 401 invalid_grant; another grant type: 400 unsupported_grant_type", async () => {
      assert.deepEqual(await post(form("wrong-password")), {
        status: 401,
        body: {
          error: "invalid_grant",
          error_description: "wrong user name or password",
          errors: [{ code: "UNAUTHORIZED", message: "wrong user name or password" }],
        },
      });
      const refresh = await post({ ...form(fx.users.bob.password), grant_type: "refresh_token" });
      assert.equal(refresh.status, 400);
      assert.equal(refresh.body.error, "unsupported_grant_type");
    });
  });

  test("a token with the scope works; one without it gets 401 naming the scope it lacks", async () => {
    const pullOnly = await token(["repository:internal/team/app:pull"], fx.users.bob);
    const ok = await rawRequest(fx.wharf.url, manifest, { headers: bearer(pullOnly) });
    assert.equal(ok.status, 200);
    assert.equal(sha256(ok.body), getImage("small").digest);
    const challenges: Array<[method: string, p: string, scope: string]> = [
      ["POST", "/v2/internal/team/app/blobs/uploads/", "repository:internal/team/app:pull,push"],
      ["DELETE", manifest, "repository:internal/team/app:delete"],
      ["GET", "/v2/hub/lib/app/manifests/v1", "repository:hub/lib/app:pull"],
      ["GET", "/v2/internal/team/other/manifests/v1", "repository:internal/team/other:pull"],
    ];
    for (const [method, p, scope] of challenges) {
      const res = await rawRequest(fx.wharf.url, p, { method, headers: bearer(pullOnly) });
      assert.equal(res.status, 401, `${method} ${p}`);
      assert.equal(bearerChallenge(res)?.scope, scope);
    }
  });

  test("a known user the rules refuse gets 403 DENIED, even with a token", async () => {
    const jwt = await token(["repository:internal/team/app:pull,push"], fx.users.alice);
    const res = await rawRequest(fx.wharf.url, "/v2/internal/team/app/blobs/uploads/", {
      method: "POST",
      headers: bearer(jwt),
    });
    assert.equal(res.status, 403);
    assert.deepEqual(errorCodes(res.body), ["DENIED"]);
  });

  test("Basic credentials on registry requests work; wrong ones get the challenge", async () => {
    const ok = await rawRequest(fx.wharf.url, manifest, {
      headers: { authorization: basicAuthorization(fx.users.alice), accept: ACCEPT_MANIFESTS },
    });
    assert.equal(ok.status, 200);
    const base = await rawRequest(fx.wharf.url, "/v2/", {
      headers: { authorization: basicAuthorization(fx.users.alice) },
    });
    assert.equal(base.status, 200);
    const wrong = await rawRequest(fx.wharf.url, manifest, {
      headers: { authorization: basicAuthorization({ username: "alice", password: "not-her-password" }) },
    });
    assert.equal(wrong.status, 401);
    assert.ok(bearerChallenge(wrong));
  });

  test("bad tokens: another key, expired, alg none, HS256 with the public key, other audience, tampered, garbage", async () => {
    const pem = fs.readFileSync(keyPath, "utf8");
    const access = [{ type: "repository", name: "internal/team/app", actions: ["pull"] }];
    const claims = (seconds = 300) => registryClaims(SERVICE, "bob", access, seconds);
    const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const otherPem = otherKey.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const good = await signedWith(pem, claims());
    const bad: Record<string, string> = {
      "another key": await signedWith(otherPem, claims()),
      expired: await signedWith(pem, claims(-120)),
      "alg none": handMadeJwt({ alg: "none", typ: "JWT" }, claims()),
      "HS256 keyed with the public key": hs256WithPublicKey(pem, claims()),
      "other audience": await signedWith(pem, { ...claims(), aud: "registry.docker.io" }),
      "other issuer": await signedWith(pem, { ...claims(), iss: "auth.docker.io" }),
      "admin in place of bob": tampered(good, { ...claims(), sub: "admin" }),
      garbage: "not.a.token",
    };
    for (const [what, jwt] of Object.entries(bad)) {
      const res = await rawRequest(fx.wharf.url, manifest, { headers: bearer(jwt) });
      assert.equal(res.status, 401, what);
      assert.ok(bearerChallenge(res), `${what}: a fresh challenge`);
    }
    // the control: the same claims, properly signed, work; and the server is still healthy
    assert.equal((await rawRequest(fx.wharf.url, manifest, { headers: bearer(good) })).status, 200);
  });

  test("the signing key is kept in the data directory, owner-only: tokens survive a restart", async () => {
    assert.equal(fs.statSync(keyPath).mode & 0o777, 0o600);
    const before = fs.readFileSync(keyPath, "utf8");
    const jwt = await token(["repository:internal/team/app:pull"], fx.users.alice);
    await fx.wharf.restart();
    assert.equal(fs.readFileSync(keyPath, "utf8"), before);
    assert.equal((await rawRequest(fx.wharf.url, manifest, { headers: bearer(jwt) })).status, 200);
  });

  test("no password, API token or registry token appears in any log line", () => {
    assertNoSecretInFiles(fx.logFiles(), fx.secrets);
  });
});
