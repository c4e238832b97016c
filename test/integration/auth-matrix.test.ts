// Issue 4, points 1-2: who may do what, cell by cell. Five principals (anonymous, a plain user, a
// user whose group the rules give more, an admin, an API token with a narrow scope) × three
// repository kinds (proxy, hosted, group) × pull, push and delete, each cell a raw request made
// the way a client makes it through the token protocol, judged against the table below, which
// follows from FIXTURE_RULES (test/harness/authwharf.ts).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { basicAuthorization } from "../harness/auth/bearer.js";
import { assertNoSecretInFiles } from "../harness/auth/secrets.js";
import { bearerChallenge, repositoryScope, tokenFlowRequest } from "../harness/auth/token-flow.js";
import { type AuthFixture, startAuthFixture } from "../harness/fixtures/auth.js";
import {
  ACCEPT_MANIFESTS,
  errorCodes,
  type RawResponse,
  rawRequest,
  sha256,
} from "../harness/http/requests.js";
import { getImage, layoutBytes } from "../harness/images/test-images.js";
import type { Credentials } from "../harness/types.js";
import { createApiToken } from "../harness/wharf/users.js";

// ok: pull 200 with the right bytes, push 201, delete 202 (and the tag really appeared or went).
// denied: anonymous gets 401 with a challenge for the scope; a user the rules refuse gets 403
// DENIED, and so does the robot: wharf knows whose token it is and that no better one would come.
// absent: 404. The group holds team/app through internal, which anonymous may not read, so the
// group shows anonymous only its public proxy member, where team/app does not exist.
// 405: the proxy takes no pushes or deletes, whoever asks (only an admin gets that far).
const TABLE = `
             proxy-pull  proxy-push  proxy-delete  hosted-pull  hosted-push  hosted-delete  group-pull  group-push  group-delete
anonymous    ok          denied      denied        denied       denied       denied         absent      denied      denied
alice        ok          denied      denied        ok           denied       denied         ok          denied      denied
bob          ok          denied      denied        ok           ok           ok             ok          ok          ok
admin        ok          405         405           ok           ok           ok             ok          ok          ok
robot        denied      denied      denied        ok           ok           denied         ok          ok          denied
`;
/** The robot: an API token of bob's, narrower than bob. */
const ROBOT_SCOPE = "internal/team/**:pull,push";

type Kind = "proxy" | "hosted" | "group";
type Action = "pull" | "push" | "delete";
type Outcome = "ok" | "denied" | "absent" | "405";
const NAMES: Record<Kind, string> = {
  proxy: "hub/lib/app",
  hosted: "internal/team/app",
  group: "all/team/app",
};

function parseTable(text: string): Array<{ who: string; kind: Kind; action: Action; outcome: Outcome }> {
  const [header = "", ...rows] = text.trim().split("\n");
  const columns = header.trim().split(/\s+/);
  return rows.flatMap((row) => {
    const [who = "", ...cells] = row.trim().split(/\s+/);
    return cells.map((outcome, i) => {
      const [kind, action] = (columns[i] ?? "").split("-") as [Kind, Action];
      return { who, kind, action, outcome: outcome as Outcome };
    });
  });
}

describe("the access matrix: principal × repository kind × action", () => {
  const small = getImage("small");
  const manifest = layoutBytes(small, small.digest);
  let fx: AuthFixture;
  const creds: Record<string, Credentials | undefined> = {};

  before(async () => {
    fx = await startAuthFixture();
    const robot = await createApiToken(fx.wharf, "bob", { scopes: [ROBOT_SCOPE] });
    fx.secrets.add(robot.secret);
    Object.assign(creds, {
      anonymous: undefined,
      alice: fx.users.alice,
      bob: fx.users.bob,
      admin: fx.users.admin,
      robot: { username: "bob", password: robot.secret },
    });
    // every push and delete cell gets a tag of its own, made by the admin, so cells never interfere
    for (const { who, kind, action } of parseTable(TABLE)) {
      if (action === "delete" && kind !== "proxy") {
        const res = await asAdmin(
          "PUT",
          `/v2/internal/team/app/manifests/${tag(who, kind, action)}`,
          manifest,
        );
        assert.equal(res.status, 201, res.body.toString());
      }
    }
  });
  after(() => fx?.close());

  const tag = (who: string, kind: Kind, action: Action) => `${action}-${who}-${kind}`;

  function asAdmin(method: string, path: string, body?: Buffer): Promise<RawResponse> {
    return rawRequest(fx.wharf.url, path, {
      method,
      headers: {
        authorization: basicAuthorization(fx.users.admin),
        accept: ACCEPT_MANIFESTS,
        "content-type": small.mediaType,
      },
      ...(body ? { body } : {}),
    });
  }

  /** Whether the cell's tag is in internal now (a push made it, a delete removed it). */
  async function tagExists(who: string, kind: Kind, action: Action): Promise<boolean> {
    const res = await asAdmin("GET", `/v2/internal/team/app/manifests/${tag(who, kind, action)}`);
    assert.ok(res.status === 200 || res.status === 404, `${res.status} ${res.body.toString()}`);
    return res.status === 200;
  }

  function request(who: string, kind: Kind, action: Action) {
    const name = NAMES[kind];
    const path = `/v2/${name}/manifests/${action === "pull" ? "v1" : tag(who, kind, action)}`;
    const method = { pull: "GET", push: "PUT", delete: "DELETE" }[action];
    const principal = creds[who];
    return tokenFlowRequest(fx.wharf.url, path, {
      method,
      scopes: [repositoryScope(name, action)],
      headers: {
        accept: ACCEPT_MANIFESTS,
        ...(action === "push" ? { "content-type": small.mediaType } : {}),
      },
      ...(action === "push" ? { body: manifest } : {}),
      ...(principal ? { creds: principal } : {}),
      onToken: (token) => fx.secrets.add(token),
    });
  }

  function assertOutcome(res: RawResponse, who: string, action: Action, outcome: Outcome): void {
    const what = `${res.status} ${res.body.toString().slice(0, 300)}`;
    if (outcome === "ok") {
      assert.equal(res.status, { pull: 200, push: 201, delete: 202 }[action], what);
      if (action === "pull") assert.equal(sha256(res.body), small.digest);
    } else if (outcome === "absent") {
      assert.equal(res.status, 404, what);
    } else if (outcome === "405") {
      assert.equal(res.status, 405, what);
      assert.deepEqual(errorCodes(res.body), ["UNSUPPORTED"]);
    } else if (who === "anonymous") {
      assert.equal(res.status, 401, what);
      assert.ok(bearerChallenge(res)?.scope, "the challenge names a scope");
    } else {
      assert.equal(res.status, 403, what);
      assert.deepEqual(errorCodes(res.body), ["DENIED"]);
    }
  }

  for (const { who, kind, action, outcome } of parseTable(TABLE)) {
    test(`${who} × ${kind} × ${action}: ${outcome}`, async () => {
      const res = await request(who, kind, action);
      assertOutcome(res, who, action, outcome);
      if (kind === "proxy" || action === "pull") return;
      // the refusal (or success) is real: the content changed exactly when the answer said so
      const exists = await tagExists(who, kind, action);
      assert.equal(exists, action === "push" ? outcome === "ok" : outcome !== "ok", "tag after the request");
    });
  }

  test("no password, API token or registry token appears in any log line", () => {
    assertNoSecretInFiles(fx.logFiles(), fx.secrets);
  });
});
