import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type {
  ManifestRecord,
  MetadataStore,
  MetadataTransaction,
  NewManifest,
  RepositoryContent,
  UploadRecord,
} from "../../src/meta/metadata-store.js";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";

/** Creates an empty store; the suite closes it at the end of each test. */
export type MetadataStoreFactory = () => MetadataStore | Promise<MetadataStore>;

const REPO = "docker-hub";
const NAME = "library/busybox";
const T0 = Date.parse("2024-06-01T00:00:00Z");

function digest(label: string): string {
  return digestOf(Buffer.from(label));
}

function manifest(label: string, fields: Partial<NewManifest> = {}): NewManifest {
  return {
    digest: digest(label),
    mediaType: MediaType.ociManifest,
    size: 100 + label.length,
    references: [digest(`${label}-config`), digest(`${label}-layer`)],
    ...fields,
  };
}

/** What a store gives back for a NewManifest, minus the time it recorded. */
function recordOf(input: NewManifest): Omit<ManifestRecord, "createdAt"> {
  const { references: _references, ...record } = input;
  return record;
}

function withoutCreatedAt(record: ManifestRecord | undefined): Omit<ManifestRecord, "createdAt"> | undefined {
  if (record === undefined) return undefined;
  const { createdAt: _createdAt, ...rest } = record;
  return rest;
}

/** The interface does not promise an order for referrers. */
function byDigest(a: { digest: string }, b: { digest: string }): number {
  return a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
}

/** Reads every page of a paginated listing with page size `limit`. */
async function allPages(
  list: (page: { limit: number; last?: string }) => Promise<{ items: string[]; more: boolean }>,
  limit: number,
): Promise<string[][]> {
  const pages: string[][] = [];
  let last: string | undefined;
  for (;;) {
    const { items, more } = await list(last === undefined ? { limit } : { limit, last });
    pages.push(items);
    if (!more) return pages;
    assert.ok(items.length > 0, "a page with more after it cannot be empty");
    last = items.at(-1);
  }
}

/** A promise and the function that settles it, to hold a transaction open while a test acts. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

class Planned extends Error {}

/**
 * The behaviour every MetadataStore must have, whatever stands behind it (SQLite, PostgreSQL,
 * memory): run it with a factory that gives a fresh, empty store.
 */
export function metadataStoreConformance(name: string, factory: MetadataStoreFactory): void {
  /** A test body that receives a fresh store and closes it afterwards, pass or fail. */
  function withStore(body: (store: MetadataStore) => Promise<void>): () => Promise<void> {
    return async () => {
      const store = await factory();
      try {
        await body(store);
      } finally {
        await store.close();
      }
    };
  }

  describe(`${name}: MetadataStore conformance`, () => {
    describe("manifests", () => {
      test(
        "an unknown manifest is undefined",
        withStore(async (store) => {
          assert.equal(await store.getManifest(REPO, NAME, digest("nothing")), undefined);
        }),
      );

      test(
        "put then get gives back every field and when it was recorded",
        withStore(async (store) => {
          const full = manifest("full", {
            mediaType: MediaType.ociIndex,
            subject: digest("subject"),
            artifactType: "application/vnd.example.sbom",
            annotations: { "org.example/a": "1", "org.example/b": "two" },
          });
          const before = Date.now();
          await store.putManifest(REPO, NAME, full);
          const record = await store.getManifest(REPO, NAME, full.digest);
          assert.ok(record);
          assert.deepEqual(withoutCreatedAt(record), recordOf(full));
          assert.ok(record.createdAt >= before && record.createdAt <= Date.now(), `${record.createdAt}`);
        }),
      );

      test(
        "optional fields that were not given are absent, not null",
        withStore(async (store) => {
          const plain = manifest("plain");
          await store.putManifest(REPO, NAME, plain);
          const record = await store.getManifest(REPO, NAME, plain.digest);
          assert.deepEqual(withoutCreatedAt(record), recordOf(plain));
          for (const key of ["subject", "artifactType", "annotations"])
            assert.ok(!(key in (record ?? {})), key);
        }),
      );

      test(
        "put is idempotent and keeps the first record",
        withStore(async (store) => {
          const first = manifest("same");
          await store.putManifest(REPO, NAME, first);
          const created = (await store.getManifest(REPO, NAME, first.digest))?.createdAt;
          await store.putManifest(REPO, NAME, first);
          await store.putManifest(REPO, NAME, {
            ...first,
            references: [...first.references, digest("more")],
          });
          const record = await store.getManifest(REPO, NAME, first.digest);
          assert.deepEqual(withoutCreatedAt(record), recordOf(first));
          assert.equal(record?.createdAt, created);
        }),
      );

      test(
        "references may be empty or repeat a digest",
        withStore(async (store) => {
          await store.putManifest(REPO, NAME, manifest("none", { references: [] }));
          const twice = manifest("twice", { references: [digest("x"), digest("x")] });
          await store.putManifest(REPO, NAME, twice);
          assert.ok(await store.getManifest(REPO, NAME, twice.digest));
        }),
      );

      test(
        "delete removes the manifest and every tag pointing at it, and only those",
        withStore(async (store) => {
          const doomed = manifest("doomed");
          const kept = manifest("kept");
          await store.putManifest(REPO, NAME, doomed);
          await store.putManifest(REPO, NAME, kept);
          await store.putManifest(REPO, "other/name", doomed);
          await store.setTag(REPO, NAME, "latest", doomed.digest, T0);
          await store.setTag(REPO, NAME, "v1", doomed.digest, T0);
          await store.setTag(REPO, NAME, "stable", kept.digest, T0);
          await store.setTag(REPO, "other/name", "latest", doomed.digest, T0);
          await store.setTag("other-repo", NAME, "latest", doomed.digest, T0);

          assert.equal(await store.deleteManifest(REPO, NAME, doomed.digest), true);
          assert.equal(await store.getManifest(REPO, NAME, doomed.digest), undefined);
          assert.deepEqual(await store.listTags(REPO, NAME), { tags: ["stable"], more: false });
          assert.ok(await store.getManifest(REPO, NAME, kept.digest));
          assert.ok(await store.getManifest(REPO, "other/name", doomed.digest));
          assert.equal((await store.getTag(REPO, "other/name", "latest"))?.digest, doomed.digest);
          assert.equal((await store.getTag("other-repo", NAME, "latest"))?.digest, doomed.digest);

          assert.equal(await store.deleteManifest(REPO, NAME, doomed.digest), false);
        }),
      );

      test(
        "a deleted manifest can be put again",
        withStore(async (store) => {
          const again = manifest("again");
          await store.putManifest(REPO, NAME, again);
          await store.deleteManifest(REPO, NAME, again.digest);
          await store.putManifest(REPO, NAME, again);
          assert.deepEqual(
            withoutCreatedAt(await store.getManifest(REPO, NAME, again.digest)),
            recordOf(again),
          );
        }),
      );

      test(
        "manifests are scoped to (repo, name)",
        withStore(async (store) => {
          const scoped = manifest("scoped");
          await store.putManifest(REPO, NAME, scoped);
          assert.equal(await store.getManifest(REPO, "library/other", scoped.digest), undefined);
          assert.equal(await store.getManifest("other-repo", NAME, scoped.digest), undefined);
          assert.equal(await store.deleteManifest("other-repo", NAME, scoped.digest), false);
          assert.ok(await store.getManifest(REPO, NAME, scoped.digest));
        }),
      );
    });

    describe("referrers", () => {
      test(
        "lists the manifests whose subject is the digest, in this (repo, name) only",
        withStore(async (store) => {
          const subject = digest("image");
          const sbom = manifest("sbom", { subject, artifactType: "application/vnd.example.sbom" });
          const signature = manifest("signature", { subject, annotations: { "org.example/signer": "me" } });
          await store.putManifest(REPO, NAME, manifest("image"));
          await store.putManifest(REPO, NAME, sbom);
          await store.putManifest(REPO, NAME, signature);
          await store.putManifest(REPO, NAME, manifest("unrelated", { subject: digest("another image") }));
          await store.putManifest(REPO, "other/name", manifest("elsewhere", { subject }));
          await store.putManifest("other-repo", NAME, manifest("elsewhere", { subject }));

          const referrers = await store.listReferrers(REPO, NAME, subject);
          assert.deepEqual(
            referrers.sort(byDigest).map(withoutCreatedAt),
            [sbom, signature].sort(byDigest).map(recordOf),
          );

          assert.deepEqual(await store.listReferrers(REPO, NAME, digest("no referrers")), []);
          await store.deleteManifest(REPO, NAME, sbom.digest);
          assert.deepEqual(
            (await store.listReferrers(REPO, NAME, subject)).map((r) => r.digest),
            [signature.digest],
          );
        }),
      );
    });

    describe("tags", () => {
      test(
        "set then get; an unknown tag is undefined",
        withStore(async (store) => {
          assert.equal(await store.getTag(REPO, NAME, "latest"), undefined);
          await store.setTag(REPO, NAME, "latest", digest("a"), T0);
          assert.deepEqual(await store.getTag(REPO, NAME, "latest"), {
            digest: digest("a"),
            updatedAt: T0,
            validatedAt: T0,
          });
        }),
      );

      test(
        "setting the same digest again revalidates it without moving updatedAt",
        withStore(async (store) => {
          await store.setTag(REPO, NAME, "latest", digest("a"), T0);
          await store.setTag(REPO, NAME, "latest", digest("a"), T0 + 60_000);
          assert.deepEqual(await store.getTag(REPO, NAME, "latest"), {
            digest: digest("a"),
            updatedAt: T0,
            validatedAt: T0 + 60_000,
          });
        }),
      );

      test(
        "moving a tag updates digest, updatedAt and validatedAt",
        withStore(async (store) => {
          await store.setTag(REPO, NAME, "latest", digest("a"), T0);
          await store.setTag(REPO, NAME, "latest", digest("b"), T0 + 1000);
          assert.deepEqual(await store.getTag(REPO, NAME, "latest"), {
            digest: digest("b"),
            updatedAt: T0 + 1000,
            validatedAt: T0 + 1000,
          });
          // Moving back is a move too.
          await store.setTag(REPO, NAME, "latest", digest("a"), T0 + 2000);
          assert.equal((await store.getTag(REPO, NAME, "latest"))?.updatedAt, T0 + 2000);
        }),
      );

      test(
        "markTagValidated changes only validatedAt, and never creates a tag",
        withStore(async (store) => {
          await store.setTag(REPO, NAME, "latest", digest("a"), T0);
          await store.markTagValidated(REPO, NAME, "latest", T0 + 5000);
          assert.deepEqual(await store.getTag(REPO, NAME, "latest"), {
            digest: digest("a"),
            updatedAt: T0,
            validatedAt: T0 + 5000,
          });
          await store.markTagValidated(REPO, NAME, "missing", T0);
          assert.equal(await store.getTag(REPO, NAME, "missing"), undefined);
        }),
      );

      test(
        "delete says whether the tag existed",
        withStore(async (store) => {
          await store.setTag(REPO, NAME, "latest", digest("a"), T0);
          assert.equal(await store.deleteTag(REPO, NAME, "latest"), true);
          assert.equal(await store.getTag(REPO, NAME, "latest"), undefined);
          assert.equal(await store.deleteTag(REPO, NAME, "latest"), false);
        }),
      );

      test(
        "tags are scoped to (repo, name)",
        withStore(async (store) => {
          await store.setTag(REPO, NAME, "latest", digest("a"), T0);
          await store.setTag(REPO, "library/other", "latest", digest("b"), T0);
          await store.setTag("other-repo", NAME, "latest", digest("c"), T0);
          assert.equal((await store.getTag(REPO, NAME, "latest"))?.digest, digest("a"));
          assert.equal((await store.getTag(REPO, "library/other", "latest"))?.digest, digest("b"));
          assert.equal((await store.getTag("other-repo", NAME, "latest"))?.digest, digest("c"));
          await store.deleteTag(REPO, NAME, "latest");
          assert.equal((await store.getTag(REPO, "library/other", "latest"))?.digest, digest("b"));
          assert.deepEqual(await store.listTags("other-repo", NAME), { tags: ["latest"], more: false });
        }),
      );

      const TAGS = ["v2", "latest", "1.0", "V1", "a", "_x", "10", "9", "A-b", "a.b", "a_b", "a-b"];
      const SORTED = [...TAGS].sort();

      test(
        "lists tags in lexical order",
        withStore(async (store) => {
          for (const tag of TAGS) await store.setTag(REPO, NAME, tag, digest(tag), T0);
          assert.deepEqual(await store.listTags(REPO, NAME), { tags: SORTED, more: false });
          assert.deepEqual(await store.listTags(REPO, "library/empty"), { tags: [], more: false });
        }),
      );

      for (const limit of [1, 3, 5, SORTED.length - 1, SORTED.length, SORTED.length + 1]) {
        test(
          `pages of ${limit} cover every tag once, with more on all but the last`,
          withStore(async (store) => {
            for (const tag of TAGS) await store.setTag(REPO, NAME, tag, digest(tag), T0);
            const pages = await allPages(async (page) => {
              const { tags, more } = await store.listTags(REPO, NAME, page);
              assert.ok(tags.length <= limit);
              return { items: tags, more };
            }, limit);
            assert.deepEqual(pages.flat(), SORTED);
            assert.equal(pages.length, Math.ceil(SORTED.length / limit));
          }),
        );
      }

      test(
        "last need not be a tag that exists",
        withStore(async (store) => {
          for (const tag of TAGS) await store.setTag(REPO, NAME, tag, digest(tag), T0);
          const after = "a0";
          assert.deepEqual(await store.listTags(REPO, NAME, { last: after }), {
            tags: SORTED.filter((tag) => tag > after),
            more: false,
          });
          assert.deepEqual(await store.listTags(REPO, NAME, { last: "zzz" }), { tags: [], more: false });
          assert.deepEqual(await store.listTags(REPO, NAME, { limit: 2, last: "9" }), {
            tags: SORTED.filter((tag) => tag > "9").slice(0, 2),
            more: true,
          });
        }),
      );
    });

    describe("blob links", () => {
      test(
        "link, has and unlink per (repo, name)",
        withStore(async (store) => {
          const blob = digest("layer");
          assert.equal(await store.hasBlob(REPO, NAME, blob), false);
          await store.linkBlob(REPO, NAME, blob, 1234);
          await store.linkBlob(REPO, NAME, blob, 1234);
          assert.equal(await store.hasBlob(REPO, NAME, blob), true);
          assert.equal(await store.hasBlob(REPO, "library/other", blob), false);
          assert.equal(await store.hasBlob("other-repo", NAME, blob), false);
          assert.equal(await store.hasBlob(REPO, NAME, digest("other layer")), false);

          await store.linkBlob("other-repo", NAME, blob, 1234);
          assert.equal(await store.unlinkBlob(REPO, NAME, blob), true);
          assert.equal(await store.hasBlob(REPO, NAME, blob), false);
          assert.equal(await store.unlinkBlob(REPO, NAME, blob), false);
          assert.equal(await store.hasBlob("other-repo", NAME, blob), true);
        }),
      );

      test(
        "blob links do not make a name appear in listNames",
        withStore(async (store) => {
          await store.linkBlob(REPO, "only/blobs", digest("layer"), 1);
          await store.setTag(REPO, "only/tags", "latest", digest("x"), T0);
          assert.deepEqual(await store.listNames(REPO), { names: [], more: false });
        }),
      );
    });

    describe("listNames", () => {
      const NAMES = ["library/busybox", "library/alpine", "a", "z/z", "library/alpine-edge", "b/c/d", "0"];
      const SORTED = [...NAMES].sort();

      test(
        "lists each name with a manifest once, in lexical order, per repository",
        withStore(async (store) => {
          for (const image of NAMES) {
            await store.putManifest(REPO, image, manifest(`${image}-1`));
            await store.putManifest(REPO, image, manifest(`${image}-2`));
          }
          await store.putManifest("other-repo", "only/there", manifest("x"));
          assert.deepEqual(await store.listNames(REPO), { names: SORTED, more: false });
          assert.deepEqual(await store.listNames("other-repo"), { names: ["only/there"], more: false });
          assert.deepEqual(await store.listNames("empty-repo"), { names: [], more: false });
        }),
      );

      for (const limit of [1, 2, SORTED.length]) {
        test(
          `pages of ${limit} cover every name once`,
          withStore(async (store) => {
            for (const image of NAMES) await store.putManifest(REPO, image, manifest(image));
            const pages = await allPages(async (page) => {
              const { names, more } = await store.listNames(REPO, page);
              assert.ok(names.length <= limit);
              return { items: names, more };
            }, limit);
            assert.deepEqual(pages.flat(), SORTED);
          }),
        );
      }

      test(
        "a name whose last manifest was deleted is no longer listed",
        withStore(async (store) => {
          const only = manifest("only");
          await store.putManifest(REPO, "gone/soon", only);
          await store.putManifest(REPO, "stays", manifest("stays"));
          await store.deleteManifest(REPO, "gone/soon", only.digest);
          assert.deepEqual(await store.listNames(REPO), { names: ["stays"], more: false });
        }),
      );
    });

    describe("known names", () => {
      test(
        "a name is known while it holds a manifest, a tag or a blob, in its own repository only",
        withStore(async (store) => {
          assert.equal(await store.hasName(REPO, NAME), false);
          await store.putManifest(REPO, "with/manifest", manifest("m"));
          await store.setTag(REPO, "with/tag", "latest", digest("t"), T0);
          await store.linkBlob(REPO, "with/blob", digest("b"), 1);
          for (const known of ["with/manifest", "with/tag", "with/blob"])
            assert.equal(await store.hasName(REPO, known), true, known);
          assert.equal(await store.hasName("other-repo", "with/manifest"), false);
          assert.equal(await store.hasName(REPO, "with"), false, "a prefix is not a name");
          await store.unlinkBlob(REPO, "with/blob", digest("b"));
          assert.equal(await store.hasName(REPO, "with/blob"), false);
        }),
      );
    });

    describe("uploads", () => {
      const upload = (id: string, updatedAt: number): UploadRecord => ({
        id,
        repo: REPO,
        name: NAME,
        offset: 0,
        createdAt: T0,
        updatedAt,
      });

      test(
        "create, get, move the offset, delete",
        withStore(async (store) => {
          assert.equal(await store.getUpload("u1"), undefined);
          await store.createUpload(upload("u1", T0));
          assert.deepEqual(await store.getUpload("u1"), upload("u1", T0));
          await store.setUploadOffset("u1", 4096, T0 + 10);
          assert.deepEqual(await store.getUpload("u1"), { ...upload("u1", T0 + 10), offset: 4096 });
          await store.deleteUpload("u1");
          assert.equal(await store.getUpload("u1"), undefined);
          await store.deleteUpload("u1");
          await store.setUploadOffset("u1", 1, T0);
          assert.equal(await store.getUpload("u1"), undefined, "moving a deleted upload creates none");
        }),
      );

      test(
        "an id is taken once",
        withStore(async (store) => {
          await store.createUpload(upload("u1", T0));
          await assert.rejects(store.createUpload(upload("u1", T0 + 1)));
          assert.deepEqual(await store.getUpload("u1"), upload("u1", T0));
        }),
      );

      test(
        "idle uploads are those untouched since the given time, oldest first",
        withStore(async (store) => {
          await store.createUpload(upload("late", T0 + 300));
          await store.createUpload(upload("early", T0 + 100));
          await store.createUpload(upload("middle", T0 + 200));
          await store.setUploadOffset("early", 10, T0 + 400);
          assert.deepEqual(
            (await store.listIdleUploads(T0 + 301)).map((u) => u.id),
            ["middle", "late"],
          );
          assert.deepEqual(await store.listIdleUploads(T0 + 200), []);
        }),
      );
    });

    describe("what garbage collection reads", () => {
      test(
        "manifest nodes carry their children and subject, per repository",
        withStore(async (store) => {
          const image = manifest("image");
          const signature = manifest("signature", {
            references: [digest("sig-layer")],
            subject: image.digest,
          });
          await store.putManifest(REPO, NAME, image);
          await store.putManifest(REPO, NAME, {
            ...image,
            references: [...image.references, digest("more")],
          });
          await store.putManifest(REPO, NAME, signature);
          await store.putManifest("other-repo", "x", manifest("elsewhere"));
          const nodes = (await store.listManifestNodes(REPO))
            .map((node) => ({ ...node, children: [...node.children].sort() }))
            .sort(byDigest);
          assert.deepEqual(
            nodes,
            [
              { name: NAME, digest: image.digest, children: [...image.references, digest("more")].sort() },
              {
                name: NAME,
                digest: signature.digest,
                subject: image.digest,
                children: [digest("sig-layer")],
              },
            ].sort(byDigest),
          );
          await store.deleteManifest(REPO, NAME, image.digest);
          assert.deepEqual(
            (await store.listManifestNodes(REPO)).map((node) => node.digest),
            [signature.digest],
          );
          assert.deepEqual(await store.listManifestNodes("empty-repo"), []);
        }),
      );

      test(
        "every tag of a repository, by name then tag",
        withStore(async (store) => {
          await store.setTag(REPO, "b", "v1", digest("1"), T0);
          await store.setTag(REPO, "a", "v2", digest("2"), T0);
          await store.setTag(REPO, "a", "v1", digest("3"), T0);
          await store.setTag("other-repo", "a", "v1", digest("4"), T0);
          assert.deepEqual(await store.listAllTags(REPO), [
            { name: "a", tag: "v1", digest: digest("3") },
            { name: "a", tag: "v2", digest: digest("2") },
            { name: "b", tag: "v1", digest: digest("1") },
          ]);
        }),
      );

      test(
        "repositories holding manifests, tags or blob links, each once and sorted; uploads do not count",
        withStore(async (store) => {
          assert.deepEqual(await store.listRepositories(), []);
          await store.putManifest("r-manifest", NAME, manifest("m"));
          await store.setTag("r-tag", NAME, "latest", digest("t"), T0);
          await store.linkBlob("r-blob", NAME, digest("b"), 1);
          await store.linkBlob("r-manifest", NAME, digest("b"), 1);
          await store.createUpload({
            id: "u",
            repo: "r-upload",
            name: NAME,
            offset: 0,
            createdAt: T0,
            updatedAt: T0,
          });
          assert.deepEqual(await store.listRepositories(), ["r-blob", "r-manifest", "r-tag"]);
        }),
      );

      test(
        "blob links list every (repo, name, digest) with when it was made, the first link's time kept",
        withStore(async (store) => {
          const before = Date.now();
          await store.linkBlob(REPO, NAME, digest("b"), 1);
          await store.linkBlob("other-repo", NAME, digest("b"), 1);
          await store.linkBlob(REPO, NAME, digest("a"), 1);
          const links = await store.listBlobLinks();
          assert.deepEqual(
            links.map((l) => [l.repo, l.name, l.digest]).sort(),
            [
              [REPO, NAME, digest("a")],
              [REPO, NAME, digest("b")],
              ["other-repo", NAME, digest("b")],
            ].sort(),
          );
          for (const link of links) assert.ok(link.createdAt >= before && link.createdAt <= Date.now());
          const first = links.find((l) => l.repo === REPO && l.digest === digest("b"))?.createdAt;
          await store.linkBlob(REPO, NAME, digest("b"), 1);
          assert.equal(
            (await store.listBlobLinks()).find((l) => l.repo === REPO && l.digest === digest("b"))?.createdAt,
            first,
          );
        }),
      );
    });

    describe("usage and what eviction and verification read", () => {
      const T1 = T0 + 60_000;
      const T2 = T0 + 120_000;

      /** The usage listContent reports for a manifest and a tag of REPO/NAME. */
      async function usageOf(store: MetadataStore, manifestDigest: string, tag: string) {
        const content = await store.listContent(REPO);
        const m = content.manifests.find((entry) => entry.name === NAME && entry.digest === manifestDigest);
        const t = content.tags.find((entry) => entry.name === NAME && entry.tag === tag);
        return {
          manifest: m && { pulls: m.pulls, lastPulledAt: m.lastPulledAt },
          tag: t && { pulls: t.pulls, lastPulledAt: t.lastPulledAt },
        };
      }

      test(
        "pulls add up across batches and the last pull only moves forward",
        withStore(async (store) => {
          const image = manifest("used");
          await store.putManifest(REPO, NAME, image);
          await store.setTag(REPO, NAME, "latest", image.digest, T0);
          assert.deepEqual(await usageOf(store, image.digest, "latest"), {
            manifest: { pulls: 0, lastPulledAt: undefined },
            tag: { pulls: 0, lastPulledAt: undefined },
          });
          await store.recordUsage({
            manifests: [{ repo: REPO, name: NAME, digest: image.digest, pulls: 3, at: T2 }],
            tags: [{ repo: REPO, name: NAME, tag: "latest", pulls: 2, at: T1 }],
            blobs: [],
          });
          // A batch that arrives late carries older times: counts still add, times stay.
          await store.recordUsage({
            manifests: [{ repo: REPO, name: NAME, digest: image.digest, pulls: 1, at: T1 }],
            tags: [{ repo: REPO, name: NAME, tag: "latest", pulls: 0, at: T2 }],
            blobs: [],
          });
          assert.deepEqual(await usageOf(store, image.digest, "latest"), {
            manifest: { pulls: 4, lastPulledAt: T2 },
            tag: { pulls: 2, lastPulledAt: T2 },
          });
        }),
      );

      test(
        "a tag keeps its usage when it moves; a deleted manifest takes its usage along",
        withStore(async (store) => {
          const first = manifest("first");
          const second = manifest("second");
          await store.putManifest(REPO, NAME, first);
          await store.putManifest(REPO, NAME, second);
          await store.setTag(REPO, NAME, "latest", first.digest, T0);
          await store.recordUsage({
            manifests: [{ repo: REPO, name: NAME, digest: first.digest, pulls: 5, at: T1 }],
            tags: [{ repo: REPO, name: NAME, tag: "latest", pulls: 5, at: T1 }],
            blobs: [],
          });
          await store.setTag(REPO, NAME, "latest", second.digest, T2);
          assert.deepEqual((await usageOf(store, second.digest, "latest")).tag, {
            pulls: 5,
            lastPulledAt: T1,
          });
          await store.deleteManifest(REPO, NAME, first.digest);
          await store.putManifest(REPO, NAME, first);
          assert.deepEqual((await usageOf(store, first.digest, "none")).manifest, {
            pulls: 0,
            lastPulledAt: undefined,
          });
        }),
      );

      test(
        "usage of content that is not recorded is dropped, creating nothing",
        withStore(async (store) => {
          await store.recordUsage({
            manifests: [{ repo: REPO, name: NAME, digest: digest("gone"), pulls: 1, at: T1 }],
            tags: [{ repo: REPO, name: NAME, tag: "gone", pulls: 1, at: T1 }],
            blobs: [{ repo: REPO, name: NAME, digest: digest("gone-layer"), at: T1 }],
          });
          assert.deepEqual(await store.listContent(REPO), { manifests: [], tags: [], blobs: [] });
          assert.equal(await store.hasName(REPO, NAME), false);
        }),
      );

      test(
        "a repository's content: manifests with size, age, references and use; tags; links with when last served",
        withStore(async (store) => {
          const index = manifest("index", { mediaType: MediaType.ociIndex, size: 300 });
          const signature = manifest("signature", {
            references: [digest("sig-layer")],
            subject: index.digest,
          });
          await store.putManifest(REPO, NAME, index);
          await store.putManifest(REPO, NAME, signature);
          await store.setTag(REPO, NAME, "v1", index.digest, T1);
          await store.linkBlob(REPO, NAME, digest("index-layer"), 4096);
          await store.linkBlob(REPO, NAME, digest("never-served"), 7);
          await store.putManifest("other-repo", NAME, manifest("elsewhere"));
          await store.recordUsage({
            manifests: [{ repo: REPO, name: NAME, digest: index.digest, pulls: 1, at: T2 }],
            tags: [],
            blobs: [{ repo: REPO, name: NAME, digest: digest("index-layer"), at: T2 }],
          });
          const content = await store.listContent(REPO);
          const manifests = content.manifests
            .map(({ createdAt, ...rest }) => {
              assert.ok(createdAt > 0);
              return { ...rest, children: [...rest.children].sort() };
            })
            .sort(byDigest);
          assert.deepEqual(
            manifests,
            [
              {
                name: NAME,
                digest: index.digest,
                children: [...index.references].sort(),
                size: 300,
                pulls: 1,
                lastPulledAt: T2,
              },
              {
                name: NAME,
                digest: signature.digest,
                children: [digest("sig-layer")],
                subject: index.digest,
                size: signature.size,
                pulls: 0,
              },
            ].sort(byDigest),
          );
          assert.deepEqual(content.tags, [
            { name: NAME, tag: "v1", digest: index.digest, updatedAt: T1, pulls: 0 },
          ]);
          const blobs = content.blobs
            .map(({ createdAt, ...rest }) => {
              assert.ok(createdAt > 0);
              return rest;
            })
            .sort(byDigest);
          assert.deepEqual(
            blobs,
            [
              { name: NAME, digest: digest("index-layer"), size: 4096, lastServedAt: T2 },
              { name: NAME, digest: digest("never-served"), size: 7 },
            ].sort(byDigest),
          );
          assert.deepEqual(await store.listContent("empty-repo"), { manifests: [], tags: [], blobs: [] });
        }),
      );

      test(
        "a repository's content read a span of names at a time is the whole of it, each name in one span",
        withStore(async (store) => {
          const names = ["a/one", "a/two", "b", "b/c", "only-blobs", "z"];
          for (const name of names) {
            if (name !== "only-blobs") {
              const image = manifest(`${name}-image`, { references: [digest(`${name}-layer`)] });
              await store.putManifest(REPO, name, image);
              await store.setTag(REPO, name, "latest", image.digest, T1);
            }
            await store.linkBlob(REPO, name, digest(`${name}-layer`), 10);
          }
          await store.putManifest("other-repo", "b", manifest("elsewhere"));
          const namesOf = (content: RepositoryContent) => ({
            manifests: content.manifests.map((m) => m.name).sort(),
            tags: content.tags.map((t) => t.name).sort(),
            blobs: content.blobs.map((b) => b.name).sort(),
          });
          assert.deepEqual(namesOf(await store.listContent(REPO, { through: "a/two" })), {
            manifests: ["a/one", "a/two"],
            tags: ["a/one", "a/two"],
            blobs: ["a/one", "a/two"],
          });
          assert.deepEqual(namesOf(await store.listContent(REPO, { after: "a/two", through: "b/c" })), {
            manifests: ["b", "b/c"],
            tags: ["b", "b/c"],
            blobs: ["b", "b/c"],
          });
          // A name with blobs only falls in whichever span its place in the order is.
          assert.deepEqual(namesOf(await store.listContent(REPO, { after: "b/c" })), {
            manifests: ["z"],
            tags: ["z"],
            blobs: ["only-blobs", "z"],
          });
          assert.deepEqual(
            namesOf(await store.listContent(REPO, { after: "b", through: "b" })),
            { manifests: [], tags: [], blobs: [] },
            "an empty span holds nothing",
          );
          const whole = namesOf(await store.listContent(REPO));
          assert.deepEqual(whole.manifests, ["a/one", "a/two", "b", "b/c", "z"]);
          assert.deepEqual(whole.blobs, names);
        }),
      );

      test(
        "content is measured once per digest in each repository, and once overall",
        withStore(async (store) => {
          assert.deepEqual(await store.measureContent(), { total: 0, repositories: {} });
          const image = manifest("measured", { size: 10 });
          await store.putManifest(REPO, NAME, image);
          await store.putManifest(REPO, "other-name", image);
          await store.linkBlob(REPO, NAME, digest("layer"), 1000);
          await store.linkBlob(REPO, "other-name", digest("layer"), 1000);
          await store.linkBlob("other-repo", NAME, digest("layer"), 1000);
          await store.linkBlob("other-repo", NAME, digest("own"), 5);
          assert.deepEqual(await store.measureContent(), {
            total: 1015,
            repositories: { [REPO]: 1010, "other-repo": 1005 },
          });
        }),
      );

      test(
        "measuring follows removals: unlinked, deleted, evicted and forgotten content stops counting",
        withStore(async (store) => {
          const image = manifest("gone", { size: 10 });
          await store.putManifest(REPO, NAME, image);
          await store.linkBlob(REPO, NAME, digest("layer"), 1000);
          await store.linkBlob(REPO, "other-name", digest("layer"), 1000);
          await store.linkBlob("other-repo", NAME, digest("layer"), 1000);
          await store.linkBlob("other-repo", NAME, digest("own"), 5);
          await store.unlinkBlob(REPO, NAME, digest("layer"));
          assert.deepEqual(await store.measureContent(), {
            total: 1015,
            repositories: { [REPO]: 1010, "other-repo": 1005 },
          });
          await store.unlinkBlob(REPO, "other-name", digest("layer"));
          assert.deepEqual(await store.measureContent(), {
            total: 1015,
            repositories: { [REPO]: 10, "other-repo": 1005 },
          });
          await store.forgetDigest(digest("layer"));
          assert.deepEqual(await store.measureContent(), {
            total: 15,
            repositories: { [REPO]: 10, "other-repo": 5 },
          });
          await store.transaction(async (tx) => {
            await tx.deleteManifest(REPO, NAME, image.digest);
            await tx.unlinkBlob("other-repo", NAME, digest("own"));
          });
          assert.deepEqual(await store.measureContent(), { total: 0, repositories: {} });
        }),
      );

      test(
        "a digest is referenced while any repository links it, has it as a manifest or a manifest references it",
        withStore(async (store) => {
          const image = manifest("referenced");
          const [config, layer] = image.references as [string, string];
          assert.equal(await store.isReferenced(image.digest), false);
          await store.putManifest(REPO, NAME, image);
          await store.linkBlob("other-repo", "x", digest("linked"), 1);
          for (const d of [image.digest, config, layer, digest("linked")]) {
            assert.equal(await store.isReferenced(d), true, d);
          }
          await store.deleteManifest(REPO, NAME, image.digest);
          await store.unlinkBlob("other-repo", "x", digest("linked"));
          for (const d of [image.digest, config, layer, digest("linked")]) {
            assert.equal(await store.isReferenced(d), false, d);
          }
        }),
      );

      test(
        "forgetting a digest removes its links and manifests (with their tags) everywhere, and nothing else",
        withStore(async (store) => {
          const bad = manifest("bad");
          const good = manifest("good");
          await store.putManifest(REPO, NAME, bad);
          await store.putManifest("other-repo", "x", bad);
          await store.putManifest(REPO, NAME, good);
          await store.setTag(REPO, NAME, "bad", bad.digest, T0);
          await store.setTag(REPO, NAME, "good", good.digest, T0);
          await store.linkBlob(REPO, NAME, digest("corrupt"), 1);
          await store.linkBlob("other-repo", "y", digest("corrupt"), 1);
          await store.linkBlob(REPO, NAME, digest("fine"), 1);
          const forgotten = await store.forgetDigest(digest("corrupt"));
          assert.deepEqual(
            forgotten.links.map((l) => [l.repo, l.name, l.digest]),
            [
              [REPO, NAME, digest("corrupt")],
              ["other-repo", "y", digest("corrupt")],
            ].sort(),
          );
          assert.deepEqual(forgotten.manifests, []);
          assert.deepEqual(await store.forgetDigest(bad.digest), {
            links: [],
            manifests: [
              { repo: REPO, name: NAME },
              { repo: "other-repo", name: "x" },
            ].sort((a, b) => (a.repo < b.repo ? -1 : 1)),
          });
          assert.equal(await store.hasBlob(REPO, NAME, digest("corrupt")), false);
          assert.equal(await store.hasBlob(REPO, NAME, digest("fine")), true);
          assert.equal(await store.getManifest(REPO, NAME, bad.digest), undefined);
          assert.equal(await store.getTag(REPO, NAME, "bad"), undefined);
          assert.equal((await store.getTag(REPO, NAME, "good"))?.digest, good.digest);
          assert.equal(await store.isReferenced(bad.digest), false);
        }),
      );
    });

    describe("transactions", () => {
      const image = manifest("tx-image");

      /** What a transaction below writes or removes, as seen from outside. */
      async function seen(store: MetadataStore) {
        return {
          manifest: (await store.getManifest(REPO, NAME, image.digest)) !== undefined,
          latest: (await store.getTag(REPO, NAME, "latest"))?.digest,
          old: (await store.getTag(REPO, NAME, "old"))?.digest,
          blob: await store.hasBlob(REPO, NAME, digest("tx-layer")),
        };
      }

      async function writeAll(tx: MetadataTransaction): Promise<void> {
        await tx.putManifest(REPO, NAME, image);
        await tx.setTag(REPO, NAME, "latest", image.digest, T0);
        await tx.deleteTag(REPO, NAME, "old");
        await tx.unlinkBlob(REPO, NAME, digest("tx-layer"));
      }

      async function prepare(store: MetadataStore): Promise<void> {
        await store.setTag(REPO, NAME, "old", digest("older"), T0);
        await store.linkBlob(REPO, NAME, digest("tx-layer"), 1);
      }

      test(
        "a transaction's writes are all there once it resolves, and its result comes back",
        withStore(async (store) => {
          await prepare(store);
          const result = await store.transaction(async (tx) => {
            await writeAll(tx);
            return "done";
          });
          assert.equal(result, "done");
          assert.deepEqual(await seen(store), {
            manifest: true,
            latest: image.digest,
            old: undefined,
            blob: false,
          });
        }),
      );

      test(
        "a throw undoes every write, and the error comes back unchanged",
        withStore(async (store) => {
          await prepare(store);
          const before = await seen(store);
          const planned = new Planned("stop");
          await assert.rejects(
            store.transaction(async (tx) => {
              await writeAll(tx);
              throw planned;
            }),
            (error) => error === planned,
          );
          assert.deepEqual(await seen(store), before);
          // The store is usable afterwards, inside and outside a transaction.
          await store.transaction((tx) => tx.setTag(REPO, NAME, "after", image.digest, T0));
          await store.setTag(REPO, NAME, "outside", image.digest, T0);
          assert.deepEqual((await store.listTags(REPO, NAME)).tags, ["after", "old", "outside"]);
        }),
      );

      test(
        "inside, the handle reads the transaction's own writes",
        withStore(async (store) => {
          await prepare(store);
          await store.transaction(async (tx) => {
            await writeAll(tx);
            assert.equal((await tx.getTag(REPO, NAME, "latest"))?.digest, image.digest);
            assert.equal(await tx.getTag(REPO, NAME, "old"), undefined);
            assert.ok(await tx.getManifest(REPO, NAME, image.digest));
            assert.equal(await tx.hasBlob(REPO, NAME, digest("tx-layer")), false);
          });
        }),
      );

      test(
        "a write from outside while a transaction is open is not undone by its rollback",
        withStore(async (store) => {
          const holding = latch();
          const release = latch();
          const running = store.transaction(async (tx) => {
            await tx.setTag(REPO, NAME, "inside", image.digest, T0);
            holding.open();
            await release.promise;
            throw new Planned("roll back");
          });
          await holding.promise;
          const outside = store.setTag(REPO, NAME, "outside", image.digest, T0);
          const outsideLink = store.linkBlob(REPO, NAME, digest("outside-layer"), 1);
          // Let the outside calls reach the store (or queue) while the transaction is open.
          await new Promise((resolve) => setImmediate(resolve));
          release.open();
          await assert.rejects(running, Planned);
          await Promise.all([outside, outsideLink]);
          assert.deepEqual((await store.listTags(REPO, NAME)).tags, ["outside"]);
          assert.equal(await store.hasBlob(REPO, NAME, digest("outside-layer")), true);
        }),
      );

      test(
        "a read from outside never sees a write that is rolled back",
        withStore(async (store) => {
          const holding = latch();
          const release = latch();
          const running = store.transaction(async (tx) => {
            await writeAll(tx);
            holding.open();
            await release.promise;
            throw new Planned("roll back");
          });
          await holding.promise;
          const read = seen(store);
          await new Promise((resolve) => setImmediate(resolve));
          release.open();
          await assert.rejects(running, Planned);
          assert.deepEqual(await read, { manifest: false, latest: undefined, old: undefined, blob: false });
        }),
      );

      test(
        "overlapping transactions both commit",
        withStore(async (store) => {
          const pause = () => new Promise((resolve) => setImmediate(resolve));
          await Promise.all(
            ["one", "two"].map((label) =>
              store.transaction(async (tx) => {
                await tx.setTag(REPO, NAME, `${label}-a`, digest(label), T0);
                await pause();
                await tx.setTag(REPO, NAME, `${label}-b`, digest(label), T0);
              }),
            ),
          );
          assert.deepEqual((await store.listTags(REPO, NAME)).tags, ["one-a", "one-b", "two-a", "two-b"]);
        }),
      );

      test(
        "the handle refuses calls once the transaction ended, and offers no nested transaction",
        withStore(async (store) => {
          let leaked: MetadataTransaction | undefined;
          await store.transaction(async (tx) => {
            leaked = tx;
            assert.equal((tx as Partial<MetadataStore>).transaction, undefined);
          });
          assert.ok(leaked);
          await assert.rejects(leaked.setTag(REPO, NAME, "late", image.digest, T0));
          await assert.rejects(leaked.getTag(REPO, NAME, "late"));
          assert.equal(await store.getTag(REPO, NAME, "late"), undefined);
        }),
      );
    });
  });
}
