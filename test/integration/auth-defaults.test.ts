// Issue 4, "done means": a fresh `wharf serve` is safe to expose as it is. Both starts below say
// nothing about authentication: registry:v2's environment (a Docker Hub cache, as the README's first
// command runs it) and the seed's Nexus set-up. Anyone pulls what the proxy caches; pushing, and
// reading what was pushed, needs a user; the first admin exists from the start.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { basicAuthorization, challengeParams } from "../harness/auth/bearer.js";
import { UNAUTHORIZED } from "../harness/auth/refusals.js";
import { skopeoCopy } from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { ACCEPT_MANIFESTS, rawRequest } from "../harness/http/requests.js";
import { attemptPush, pushImage } from "../harness/images/push.js";
import { expectedContent, getImage } from "../harness/images/test-images.js";
import { freePort } from "../harness/system/ports.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { exampleConfig } from "../harness/wharf/examples.js";

const FIRST_ADMIN = /created the first user "admin" with password (\S+)/g;

describe("a fresh wharf, with no word about authentication in its settings", () => {
  const image = getImage("small");
  const pushed = getImage("small-v2");
  let fx: ProxyFixture;
  before(async () => {
    fx = await withProxy({
      upstream: { auth: "none", images: [{ image, ref: "lib/app:v1" }] },
      wharf: false,
    });
  });
  after(() => fx?.close());

  test("registry:v2's environment: anonymous clients pull through the cache; the admin's password is printed once, on stderr only", async () => {
    const wharf = await fx.startWharf({ secured: true });
    const probe = await fetch(`${wharf.url}/v2/`);
    assert.equal(probe.status, 401, "the base endpoint asks clients to authenticate");
    const challenge = probe.headers.get("www-authenticate") ?? "";
    assert.match(challenge, /^Bearer /);
    assert.equal(challengeParams(challenge).realm, `${wharf.url}/token`);
    const pulled = await skopeoCopy(`${wharf.host}/lib/app:v1`, makeTempDir("fresh-pull"));
    assert.deepEqual(pulled.content, expectedContent(image));

    const stderr = fs.readFileSync(path.join(wharf.dir, "wharf.stderr"), "utf8");
    const printed = [...stderr.matchAll(FIRST_ADMIN)].map((match) => match[1] as string);
    assert.equal(printed.length, 1, "the generated password is printed exactly once");
    const password = printed[0] as string;
    assert.ok(password.length >= 20, "and it is a long one");
    assert.ok(!fs.readFileSync(path.join(wharf.dir, "wharf.stdout"), "utf8").includes(password));
    await wharf.restart();
    const again = fs.readFileSync(path.join(wharf.dir, "wharf.stderr"), "utf8");
    assert.equal([...again.matchAll(FIRST_ADMIN)].length, 1, "a restart prints it no second time");
  });

  test("the seed's Nexus set-up: anonymous pushes refused, the admin pushes, only users read hosted images", async () => {
    const port = await freePort();
    const admin = { username: "admin", password: `fresh-admin-${process.pid}` };
    const wharf = await fx.startWharf({
      config: ({ url }) => {
        const config = exampleConfig("nexus-seed.yaml");
        const hub = config.repositories["docker-hub"];
        const group = config.repositories["docker-all"];
        assert.ok(hub && group, "nexus-seed.yaml declares docker-hub and docker-all");
        hub.upstream = { url };
        group.port = port;
        return config;
      },
      env: { WHARF_ADMIN_PASSWORD: admin.password },
      secured: true,
    });
    const target = { host: wharf.host };
    // the push's own answer: a read-back as anonymous would fail whether the push was taken or not
    const anonymous = await attemptPush(pushed, target, "myteam/app:1.0");
    assert.notEqual(anonymous.code, 0, "an anonymous push");
    assert.match(anonymous.stderr, UNAUTHORIZED, "refused with 401");
    const asAdmin = { authorization: basicAuthorization(admin), accept: ACCEPT_MANIFESTS };
    const absent = await rawRequest(wharf.url, "/v2/myteam/app/manifests/1.0", {
      method: "HEAD",
      headers: asAdmin,
    });
    assert.equal(absent.status, 404, "the admin, who could read it, finds nothing of the refused push");
    await pushImage(pushed, { ...target, creds: admin }, "myteam/app:1.0");
    // the group shows anonymous clients only the members they may read: the image is not there for them
    await assert.rejects(
      skopeoCopy(`${wharf.host}/myteam/app:1.0`, makeTempDir("fresh-anon")),
      /: manifest unknown: manifest unknown to registry"$/m,
      "an anonymous pull of the pushed image",
    );
    const back = await skopeoCopy(`${wharf.host}/myteam/app:1.0`, makeTempDir("fresh-admin"), {
      creds: admin,
    });
    assert.deepEqual(back.content, expectedContent(pushed));
    const proxied = await skopeoCopy(`${wharf.host}/lib/app:v1`, makeTempDir("fresh-hub"));
    assert.deepEqual(proxied.content, expectedContent(image), "Docker Hub content stays open to anyone");
  });
});
