// Issue 3, case 3: group semantics. A read is answered by the first member that has it (so the
// order of members decides which of two same-named images wins), tags and catalog are the merged,
// sorted, paginated view, and a group whose proxy member's upstream is down still serves hosted
// content and what the proxy had cached.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { skopeoCopy } from "../harness/clients/index.js";
import { type ProxyFixture, withProxy } from "../harness/fixtures/proxy.js";
import { ACCEPT_MANIFESTS, errorCodes, rawRequest } from "../harness/http/requests.js";
import { pushImage } from "../harness/images/push.js";
import { expectedContent, getImage, type TestImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import type { Upstream } from "../harness/upstream/docker-registry.js";
import type { Wharf } from "../harness/wharf/start.js";

describe("group repositories: ordered members, merged listings, a member's upstream down", () => {
  let fx: ProxyFixture;
  let up: Upstream;
  let wharf: Wharf;
  const small = getImage("small");
  const smallV2 = getImage("small-v2");
  const docker = getImage("docker");
  const get = (path: string) => rawRequest(wharf.url, path, { headers: { accept: ACCEPT_MANIFESTS } });
  const json = <T>(body: Buffer) => JSON.parse(body.toString()) as T;

  before(async () => {
    fx = await withProxy({
      upstream: {
        images: [
          { image: small, ref: "team/shared:1", tags: ["2", "4"] },
          { image: docker, ref: "team/remote:1" },
        ],
      },
      wharf: {
        config: ({ url, creds }) => ({
          repositories: {
            internal: { type: "hosted" },
            hub: { type: "proxy", upstream: { url, ...creds }, tag_ttl: "1h" },
            all: { type: "group", members: ["internal", "hub"] },
            "hub-first": { type: "group", members: ["hub", "internal"] },
          },
          default_repository: "all",
        }),
      },
    });
    ({ upstream: up, wharf } = fx);
    // hosted: team/shared:{1,3} (another image under the upstream's name and tag), team/alpha, team/zulu
    await pushImage(smallV2, { host: wharf.host }, "internal/team/shared:1");
    await pushImage(smallV2, { host: wharf.host }, "internal/team/shared:3");
    await pushImage(small, { host: wharf.host }, "internal/team/alpha:1");
    await pushImage(small, { host: wharf.host }, "internal/team/zulu:1");
  });
  after(() => fx?.close());

  async function pullsBack(ref: string, image: TestImage): Promise<void> {
    const r = await skopeoCopy(`${wharf.host}/${ref}`, makeTempDir("pull"));
    assert.deepEqual(r.content, expectedContent(image), ref);
  }

  test("the first member that has it wins: hosted first in one group, the proxy first in the other", async () => {
    const hostedFirst = await get("/v2/all/team/shared/manifests/1");
    assert.equal(hostedFirst.headers["docker-content-digest"], smallV2.digest, hostedFirst.body.toString());
    const proxyFirst = await get("/v2/hub-first/team/shared/manifests/1");
    assert.equal(proxyFirst.headers["docker-content-digest"], small.digest, proxyFirst.body.toString());
    await pullsBack("all/team/shared:1", smallV2);
    await pullsBack("hub-first/team/shared:1", small);
    // only the upstream has team/remote: the group falls through to the proxy
    await pullsBack("all/team/remote:1", docker);
    await pullsBack("team/remote:1", docker);
  });

  test("tags list is the merged, sorted, de-duplicated view, paginated with n/last and Link", async () => {
    const all = await get("/v2/all/team/shared/tags/list");
    assert.equal(all.status, 200, all.body.toString());
    assert.deepEqual(json(all.body), { name: "all/team/shared", tags: ["1", "2", "3", "4"] });
    const first = await get("/v2/all/team/shared/tags/list?n=2");
    assert.deepEqual(json<{ tags: string[] }>(first.body).tags, ["1", "2"]);
    const link = /^<([^>]+)>; rel="next"$/.exec(String(first.headers.link))?.[1];
    assert.ok(link, `Link: ${first.headers.link}`);
    const second = await get(link);
    assert.deepEqual(json<{ tags: string[] }>(second.body).tags, ["3", "4"]);
    assert.equal(second.headers.link, undefined, "no page after the last");
  });

  test("catalog of the default group merges hosted names and the proxy's cached names, paginated", async () => {
    const whole = await get("/v2/_catalog");
    assert.equal(whole.status, 200, whole.body.toString());
    const want = ["team/alpha", "team/remote", "team/shared", "team/zulu"];
    assert.deepEqual(json(whole.body), { repositories: want });
    const first = await get("/v2/_catalog?n=3");
    assert.deepEqual(json<{ repositories: string[] }>(first.body).repositories, want.slice(0, 3));
    const link = /^<([^>]+)>; rel="next"$/.exec(String(first.headers.link))?.[1];
    assert.ok(link, `Link: ${first.headers.link}`);
    assert.deepEqual(json<{ repositories: string[] }>((await get(link)).body).repositories, want.slice(3));
  });

  describe("with the proxy member's upstream down", () => {
    before(() => up.stop());
    after(() => up.start());

    test("hosted content and what the proxy had cached are still served; the rest is an upstream failure", async () => {
      await pullsBack("all/team/alpha:1", small);
      await pullsBack("all/team/shared:1", smallV2);
      await pullsBack("all/team/remote:1", docker);
      // what nobody has cached cannot be had, and the answer says the upstream failed, not "unknown"
      const missing = await get("/v2/all/team/never/manifests/1");
      assert.equal(missing.status, 503, missing.body.toString());
      assert.deepEqual(errorCodes(missing.body), ["UNAVAILABLE"]);
    });

    test("the tags of a hosted image are still listed", async () => {
      const tags = await get("/v2/all/team/alpha/tags/list");
      assert.equal(tags.status, 200, tags.body.toString());
      assert.deepEqual(json<{ tags: string[] }>(tags.body).tags, ["1"]);
    });
  });
});
