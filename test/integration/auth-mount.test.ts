// Issue 8, point 12: a cross-repository mount with the default authentication on, by a client
// that follows the 401 challenge as docker and containerd do. The challenge names the source's
// pull scope beside the target's, so the token the client comes back with can read where it mounts
// from; a caller who may not read the source gets the spec's fallback, a 202 upload session; a
// mount of a blob that does not exist gets that fallback too.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { basicAuthorization, fetchToken } from "../harness/auth/bearer.js";
import { bearerChallenge, repositoryScope, tokenFlowRequest } from "../harness/auth/token-flow.js";
import { type AuthFixture, startAuthFixture } from "../harness/fixtures/auth.js";
import { type RawResponse, rawRequest } from "../harness/http/requests.js";
import { getImage } from "../harness/images/test-images.js";
import type { Credentials } from "../harness/types.js";

describe("cross-repository mounts with authentication on", () => {
  const small = getImage("small");
  /** A layer of internal/team/app, which the fixture pushed as admin. */
  const layer = small.manifests[0]?.layers[0]?.digest ?? "";
  const absent = `sha256:${"0".repeat(64)}`;
  const source = "internal/team/app";
  let fx: AuthFixture;

  before(async () => {
    fx = await startAuthFixture();
  });
  after(async () => {
    await fx?.close();
  });

  /**
   * A mount the way a client that knows nothing of scopes makes it: first without a token, then
   * with a token for exactly the scopes each 401 names, a few times at most.
   */
  async function mountByChallenge(creds: Credentials, target: string, digest: string, from: string) {
    const path = `/v2/${target}/blobs/uploads/?mount=${digest}&from=${from}`;
    let res = await rawRequest(fx.wharf.url, path, { method: "POST" });
    for (let attempt = 0; attempt < 3 && res.status === 401; attempt++) {
      const challenge = bearerChallenge(res);
      assert.ok(challenge?.scope, `a 401 without a scope to ask for: ${JSON.stringify(res.headers)}`);
      const token = await fetchToken(challenge, challenge.scope.split(" "), creds);
      res = await rawRequest(fx.wharf.url, path, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
      });
    }
    return res;
  }

  /** The same, by a client that asks for the target's scope up front and adds what a 401 names. */
  function mountByTokenFlow(creds: Credentials, target: string, digest: string, from: string) {
    return tokenFlowRequest(fx.wharf.url, `/v2/${target}/blobs/uploads/?mount=${digest}&from=${from}`, {
      method: "POST",
      creds,
      scopes: [repositoryScope(target, "push")],
    });
  }

  function assertUploadSession(res: RawResponse, target: string): void {
    assert.equal(res.status, 202, res.body.toString());
    assert.match(String(res.headers.location), new RegExp(`^/v2/${target}/blobs/uploads/[0-9a-f-]{36}$`));
  }

  test("without credentials, the challenge names the target's push and the source's pull scopes", async () => {
    const res = await rawRequest(
      fx.wharf.url,
      `/v2/internal/admin/one/blobs/uploads/?mount=${layer}&from=${source}`,
      { method: "POST" },
    );
    assert.equal(res.status, 401);
    const scopes = (bearerChallenge(res)?.scope ?? "").split(" ").sort();
    assert.deepEqual(scopes, [
      repositoryScope("internal/admin/one", "push"),
      repositoryScope(source, "pull"),
    ]);
  });

  for (const [client, label, mount] of [
    ["following each challenge", "challenged", mountByChallenge],
    ["asking for the target's scope up front", "scoped", mountByTokenFlow],
  ] as const) {
    test(`the admin ${client} mounts: 201, and the blob is then served under the target`, async () => {
      const target = `internal/admin/mounted-${label}`;
      const res = await mount(fx.users.admin, target, layer, source);
      assert.equal(res.status, 201, res.body.toString());
      assert.equal(res.headers["docker-content-digest"], layer);
      const got = await rawRequest(fx.wharf.url, `/v2/${target}/blobs/${layer}`, {
        headers: { authorization: basicAuthorization(fx.users.admin) },
      });
      assert.equal(got.status, 200);
    });

    test(`a source the caller may not read, ${client}: a 202 upload session, and nothing is linked`, async () => {
      // alice may push under internal/alice/ and may not read secret/
      const target = `internal/alice/copy-${label}`;
      assertUploadSession(await mount(fx.users.alice, target, layer, "secret/app"), target);
      const got = await rawRequest(fx.wharf.url, `/v2/${target}/blobs/${layer}`, {
        headers: { authorization: basicAuthorization(fx.users.alice) },
      });
      assert.equal(got.status, 404);
    });

    test(`a blob that does not exist, ${client}: a 202 upload session`, async () => {
      const target = `internal/admin/absent-${label}`;
      assertUploadSession(await mount(fx.users.admin, target, absent, source), target);
    });
  }

  test("with Basic credentials the admin mounts at once", async () => {
    const target = "internal/admin/basic";
    const res = await rawRequest(fx.wharf.url, `/v2/${target}/blobs/uploads/?mount=${layer}&from=${source}`, {
      method: "POST",
      headers: { authorization: basicAuthorization(fx.users.admin) },
    });
    assert.equal(res.status, 201, res.body.toString());
  });
});
