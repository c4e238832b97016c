// GroupRepository in-process: members asked in order (first hit wins), a member that is down does
// not hide the others, listings merged, sorted and paged, visibleTo narrowing, pushes to push_to.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { GroupRepository } from "../../src/repos/group.js";
import type { HostedRepository } from "../../src/repos/hosted.js";
import type { Repository } from "../../src/repos/repository.js";
import { UpstreamError } from "../../src/upstream/errors.js";
import { NotFoundError } from "../../src/util/errors.js";
import { FakeUpstream } from "../fakes/fake-upstream.js";
import { bytesOf, GET, hostedOf, proxyOf, tag, type World, world } from "./fixture.js";

/** Pushes a one-blob image to `name:tagName` in a hosted repository; returns its manifest digest. */
async function pushImage(
  hosted: HostedRepository,
  name: string,
  tagName: string,
  content: string,
): Promise<string> {
  const config = Buffer.from(JSON.stringify({ content }));
  const upload = await hosted.startUpload(name);
  await hosted.finishUpload(name, upload.id, digestOf(config), Readable.from([config]), {});
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: digestOf(config),
        size: config.byteLength,
      },
      layers: [],
    }),
  );
  return (await hosted.putManifest(name, tag(tagName), manifest, MediaType.ociManifest)).digest;
}

async function twoHosted(w: World) {
  const a = hostedOf(w, "a");
  const b = hostedOf(w, "b");
  const inA = await pushImage(a, "app", "latest", "from a");
  const inB = await pushImage(b, "app", "latest", "from b");
  await pushImage(a, "app", "only-a", "a's own");
  await pushImage(b, "app", "only-b", "b's own");
  await pushImage(b, "tool", "v1", "a tool in b");
  return { a, b, inA, inB };
}

describe("group: reads", () => {
  test("members are asked in order and the first that has the content answers", async (t) => {
    const w = await world(t);
    const { a, b, inA, inB } = await twoHosted(w);
    assert.equal(
      (await new GroupRepository("g", [a, b], a).getManifest("app", tag("latest"), GET)).digest,
      inA,
    );
    assert.equal(
      (await new GroupRepository("g", [b, a], a).getManifest("app", tag("latest"), GET)).digest,
      inB,
    );
    const group = new GroupRepository("g", [a, b], a);
    assert.equal(
      (await group.getManifest("app", tag("only-b"), GET)).cache,
      "hit",
      "a miss asks the next member",
    );
    await assert.rejects(
      group.getManifest("app", tag("nowhere"), GET),
      (error: unknown) => error instanceof NotFoundError && error.what === "manifest",
    );
  });

  test("a member that is down does not hide the others; when nobody has it, the outage is the answer", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    upstream.fail({ kind: "down" });
    const proxy = proxyOf(w, upstream);
    const { a, inA } = await twoHosted(w);
    const group = new GroupRepository("g", [proxy, a], a);
    assert.equal((await group.getManifest("app", tag("latest"), GET)).digest, inA);
    await assert.rejects(
      group.getManifest("app", tag("nowhere"), GET),
      (error: unknown) => error instanceof UpstreamError && error.kind === "unavailable",
      "an outage says more than 'unknown'",
    );
    upstream.fail(undefined);
    await assert.rejects(group.getManifest("app", tag("nowhere"), GET), NotFoundError);
  });

  test("blobs come from the first member holding them", async (t) => {
    const w = await world(t);
    const a = hostedOf(w, "a");
    const b = hostedOf(w, "b");
    const bytes = Buffer.from("b's blob");
    const upload = await b.startUpload("app");
    const blob = await b.finishUpload("app", upload.id, digestOf(bytes), Readable.from([bytes]), {});
    const group = new GroupRepository("g", [a, b], a);
    assert.ok((await bytesOf(await group.openBlob("app", blob.digest))).equals(bytes));
    // Answered by member b: what metrics and usage count it under.
    assert.deepEqual(await group.statBlob("app", blob.digest), {
      size: bytes.byteLength,
      cache: "hit",
      servedBy: "b",
    });
    const opened = await group.openBlob("app", blob.digest);
    assert.equal(opened.servedBy, "b");
    if (opened.body.kind !== "redirect") opened.body.release();
    assert.equal(await group.hasLocalBlob("app", blob.digest), true);
    assert.equal(await new GroupRepository("g", [a], a).hasLocalBlob("app", blob.digest), false);
  });
});

describe("group: listings", () => {
  test("tags and names are merged, de-duplicated, sorted and paged as one repository's", async (t) => {
    const w = await world(t);
    const { a, b } = await twoHosted(w);
    const group = new GroupRepository("g", [a, b], a);
    assert.deepEqual(await group.listTags("app", {}), { tags: ["latest", "only-a", "only-b"], more: false });
    assert.deepEqual(await group.listTags("app", { limit: 2 }), { tags: ["latest", "only-a"], more: true });
    assert.deepEqual(await group.listTags("app", { limit: 2, last: "only-a" }), {
      tags: ["only-b"],
      more: false,
    });
    assert.deepEqual(
      await group.listTags("tool", {}),
      { tags: ["v1"], more: false },
      "a name one member lacks",
    );
    assert.deepEqual(await group.listNames({}), { names: ["app", "tool"], more: false });
    assert.deepEqual(await group.listNames({ limit: 1 }), { names: ["app"], more: true });
    await assert.rejects(
      group.listTags("nothing", {}),
      (error: unknown) => error instanceof NotFoundError && error.what === "name",
    );
  });

  test("a member that cannot list adds nothing", async (t) => {
    const w = await world(t);
    const upstream = new FakeUpstream();
    upstream.fail({ kind: "down" });
    const { a } = await twoHosted(w);
    const group = new GroupRepository("g", [proxyOf(w, upstream), a], a);
    assert.deepEqual(await group.listTags("app", {}), { tags: ["latest", "only-a"], more: false });
  });
});

describe("group: who sees what, where pushes go", () => {
  test("visibleTo keeps only the members a reader may read, nested groups narrowed alike", async (t) => {
    const w = await world(t);
    const { a, b, inB } = await twoHosted(w);
    const c = hostedOf(w, "c");
    const inner = new GroupRepository("inner", [a, b], a);
    const outer = new GroupRepository("outer", [inner, c], c);
    const readable = new Set(["b"]);
    // As the registry API asks: a group is readable when some member is.
    const canRead = (member: Repository): boolean =>
      member.members.length > 0 ? member.members.some(canRead) : readable.has(member.name);
    const visible = outer.visibleTo(canRead);
    assert.deepEqual(
      visible.members.map((member) => [member.name, member.members.map((m) => m.name)]),
      [["inner", ["b"]]],
    );
    assert.equal((await visible.getManifest("app", tag("latest"), GET)).digest, inB, "a's copy is hidden");
    await assert.rejects(visible.getManifest("app", tag("only-a"), GET), NotFoundError);
    assert.deepEqual(await visible.listTags("app", {}), { tags: ["latest", "only-b"], more: false });
    assert.equal(visible.writer, c, "pushes still go to push_to");
    assert.equal(outer.visibleTo(() => false).members.length, 0);
    const plain: Repository = a;
    assert.equal(
      plain.visibleTo(() => false),
      a,
      "a plain repository is itself",
    );
  });

  test("pushes go to the push_to member's writer; a group without one takes none", async (t) => {
    const w = await world(t);
    const { a, b } = await twoHosted(w);
    const group = new GroupRepository("g", [a, b], b);
    assert.equal(group.writer, b);
    await pushImage(b, "pushed", "v1", "through the group");
    assert.equal((await group.getManifest("pushed", tag("v1"), GET)).cache, "hit");
    assert.equal(new GroupRepository("g", [proxyOf(w, new FakeUpstream())], undefined).writer, undefined);
    assert.deepEqual(await group.describe(), { type: "group", name: "g", members: ["a", "b"], pushTo: "b" });
  });
});
