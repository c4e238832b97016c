// Eviction's two pure parts: what a repository's content makes up as images (cachedImages) and
// what to evict to keep the bounds (planEviction), as tables of cases.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ManifestEntry, RepositoryContent } from "../../src/meta/metadata-store.js";
import { type CachedImage, cachedImages, isPinned } from "../../src/ops/cached-images.js";
import { type EvictionPolicy, type PlanInput, planEviction } from "../../src/ops/eviction-plan.js";

const T0 = Date.parse("2024-06-01T00:00:00Z");
const DAY = 86_400_000;
const MiB = 1024 * 1024;

/** `sha256:<label>`: readable digests; the planner never parses them. */
const d = (label: string) => `sha256:${label}`;

describe("isPinned", () => {
  const cases: ReadonlyArray<readonly [readonly string[], string, readonly string[], boolean]> = [
    [["library/postgres"], "library/postgres", [], true],
    [["library/postgres"], "library/postgresql", ["16"], false],
    [["team/**"], "team/a/b", [], true],
    [["team/*"], "team/a/b", [], false],
    [["library/node:20*"], "library/node", ["20.11", "latest"], true],
    [["library/node:20*"], "library/node", ["18", "latest"], false],
    [["library/node:20*"], "library/node", [], false],
    [["*/node:lts"], "library/node", ["lts"], true],
    [[], "anything", ["latest"], false],
  ];
  for (const [keep, name, tags, pinned] of cases) {
    test(`${JSON.stringify(keep)} ${pinned ? "pins" : "does not pin"} ${name} ${JSON.stringify(tags)}`, () => {
      assert.equal(isPinned(keep, name, tags), pinned);
    });
  }
});

function manifestEntry(name: string, label: string, fields: Partial<ManifestEntry> = {}): ManifestEntry {
  return { name, digest: d(label), children: [], size: 1000, createdAt: T0, pulls: 0, ...fields };
}

function link(name: string, label: string, size: number, fields: { lastServedAt?: number } = {}) {
  return { name, digest: d(label), size, createdAt: T0, ...fields };
}

function tag(name: string, tagName: string, label: string, lastPulledAt?: number) {
  return {
    name,
    tag: tagName,
    digest: d(label),
    updatedAt: T0,
    pulls: lastPulledAt === undefined ? 0 : 1,
    ...(lastPulledAt === undefined ? {} : { lastPulledAt }),
  };
}

/** The parts of an image a table states. */
function shape(image: CachedImage) {
  return {
    kind: image.kind,
    name: image.name,
    digest: image.digest,
    tags: image.tags,
    lastUsed: image.lastUsed,
    pulled: image.pulled,
    pinned: image.pinned,
    manifests: image.manifests.map((m) => m.digest).sort(),
    blobs: [...image.blobs].sort(),
    size: image.size,
  };
}

describe("cachedImages", () => {
  test("a tag's manifest with the blobs linked under its name; last used is its newest pull", () => {
    const content: RepositoryContent = {
      manifests: [
        manifestEntry("app", "m1", {
          children: [d("config"), d("layer"), d("not-linked")],
          lastPulledAt: T0 + 5,
        }),
      ],
      tags: [tag("app", "latest", "m1", T0 + 9), tag("app", "1.0", "m1")],
      blobs: [link("app", "config", 10), link("app", "layer", 100)],
    };
    assert.deepEqual(cachedImages("hub", content, []).map(shape), [
      {
        kind: "image",
        name: "app",
        digest: d("m1"),
        tags: ["1.0", "latest"],
        lastUsed: T0 + 9,
        pulled: true,
        pinned: false,
        manifests: [d("m1")],
        blobs: [d("config"), d("layer")],
        size: 1110,
      },
    ]);
  });

  test("an index brings its platform manifests and their blobs; a platform manifest tagged too is also an image of its own", () => {
    const content: RepositoryContent = {
      manifests: [
        manifestEntry("app", "index", { children: [d("amd64"), d("arm64")] }),
        manifestEntry("app", "amd64", { children: [d("layer-a")], lastPulledAt: T0 + 50 }),
        manifestEntry("app", "arm64", { children: [d("layer-b")] }),
      ],
      tags: [tag("app", "latest", "index"), tag("app", "amd64-only", "amd64")],
      blobs: [link("app", "layer-a", 10), link("app", "layer-b", 20)],
    };
    const images = cachedImages("hub", content, []).map(shape);
    assert.deepEqual(
      images.map((image) => [image.digest, image.tags, image.manifests, image.blobs, image.lastUsed]),
      [
        [d("amd64"), ["amd64-only"], [d("amd64")], [d("layer-a")], T0 + 50],
        [d("index"), ["latest"], [d("amd64"), d("arm64"), d("index")], [d("layer-a"), d("layer-b")], T0 + 50],
      ],
    );
  });

  test("untagged manifests are images of their own, dated by when they were cached while never pulled", () => {
    const content: RepositoryContent = {
      manifests: [
        manifestEntry("app", "old", { createdAt: T0 - DAY, children: [d("layer")] }),
        manifestEntry("app", "new", { createdAt: T0, children: [d("layer")] }),
      ],
      tags: [tag("app", "latest", "new")],
      blobs: [link("app", "layer", 10)],
    };
    assert.deepEqual(
      cachedImages("hub", content, []).map((image) => [
        image.digest,
        image.tags,
        image.lastUsed,
        image.pulled,
        image.blobs,
      ]),
      [
        [d("new"), ["latest"], T0, false, [d("layer")]],
        [d("old"), [], T0 - DAY, false, [d("layer")]],
      ],
    );
  });

  test("a referrer goes with its subject; one whose subject is not here is a root", () => {
    const content: RepositoryContent = {
      manifests: [
        manifestEntry("app", "image"),
        manifestEntry("app", "signature", { subject: d("image") }),
        manifestEntry("app", "orphan-sbom", { subject: d("elsewhere") }),
      ],
      tags: [tag("app", "v1", "image")],
      blobs: [],
    };
    assert.deepEqual(
      cachedImages("hub", content, []).map((image) => [
        image.digest,
        image.manifests.map((m) => m.digest).sort(),
      ]),
      [
        [d("image"), [d("image"), d("signature")]],
        [d("orphan-sbom"), [d("orphan-sbom")]],
      ],
    );
  });

  test("a blob no manifest here references is an image of its own, dated by when it was last served", () => {
    const content: RepositoryContent = {
      manifests: [],
      tags: [tag("app", "dangling", "never-fetched")],
      blobs: [link("app", "served", 10, { lastServedAt: T0 + 7 }), link("app", "never", 20)],
    };
    assert.deepEqual(cachedImages("hub", content, ["app"]).map(shape), [
      {
        kind: "blob",
        name: "app",
        digest: d("never"),
        tags: [],
        lastUsed: T0,
        pulled: false,
        pinned: true,
        manifests: [],
        blobs: [d("never")],
        size: 20,
      },
      {
        kind: "blob",
        name: "app",
        digest: d("served"),
        tags: [],
        lastUsed: T0 + 7,
        pulled: true,
        pinned: true,
        manifests: [],
        blobs: [d("served")],
        size: 10,
      },
    ]);
  });

  test("pins: by name, or by the tags pointing at the image", () => {
    const content: RepositoryContent = {
      manifests: [manifestEntry("library/node", "20"), manifestEntry("library/node", "18")],
      tags: [tag("library/node", "20.11", "20"), tag("library/node", "18.19", "18")],
      blobs: [],
    };
    assert.deepEqual(
      cachedImages("hub", content, ["library/node:20*"]).map((image) => [image.tags, image.pinned]),
      [
        [["18.19"], false],
        [["20.11"], true],
      ],
    );
  });
});

/** An image for the planner, with the fields a case states. */
function img(
  repo: string,
  label: string,
  fields: {
    lastUsed: number;
    blobs?: string[];
    children?: string[];
    manifests?: Array<{ digest: string; children: string[] }>;
    pinned?: boolean;
    name?: string;
  },
): CachedImage {
  const manifests = fields.manifests ?? [
    { digest: d(label), children: fields.children ?? fields.blobs ?? [] },
  ];
  return {
    repo,
    name: fields.name ?? label,
    kind: "image",
    digest: d(label),
    tags: ["latest"],
    lastUsed: fields.lastUsed,
    pulled: true,
    pinned: fields.pinned ?? false,
    manifests,
    blobs: fields.blobs ?? [],
    size: 0,
  };
}

function policy(
  fields: Partial<EvictionPolicy> & { repos?: Record<string, { maxSize?: number; maxUnusedMs?: number }> },
) {
  const { repos, ...rest } = fields;
  return { lowWater: 0.9, repositories: new Map(Object.entries(repos ?? {})), ...rest };
}

/** Sizes: every manifest 0 bytes unless listed, blobs as given. */
function sizes(entries: Record<string, number>): Map<string, number> {
  return new Map(Object.entries(entries).map(([label, size]) => [d(label), size]));
}

function plan(input: Omit<PlanInput, "held" | "now"> & { held?: string[]; now?: number }) {
  return planEviction({ now: T0, ...input, held: new Set(input.held ?? []) });
}

const evicted = (result: ReturnType<typeof plan>) =>
  result.evictions.map((e) => [e.image.repo, e.image.digest, e.reason, e.bytes]);

describe("planEviction", () => {
  test("nothing over any bound: nothing to evict", () => {
    const result = plan({
      images: [img("hub", "a", { lastUsed: T0, blobs: [d("a1")] })],
      sizes: sizes({ a1: 10 * MiB }),
      freeBytes: 100 * MiB,
      policy: policy({
        maxSize: 20 * MiB,
        minFree: 50 * MiB,
        repos: { hub: { maxSize: 20 * MiB, maxUnusedMs: DAY } },
      }),
    });
    assert.deepEqual(result.evictions, []);
    assert.deepEqual(result.before, result.after);
    assert.deepEqual(result.before, {
      total: 10 * MiB,
      repositories: { hub: 10 * MiB },
      freeBytes: 100 * MiB,
    });
    assert.deepEqual(result.unmet, []);
  });

  test("max_unused: every image unused for longer goes, oldest first; pinned ones and other repositories' stay", () => {
    const result = plan({
      images: [
        img("hub", "recent", { lastUsed: T0 - DAY + 1, blobs: [d("r")] }),
        img("hub", "old", { lastUsed: T0 - 3 * DAY, blobs: [d("o")] }),
        img("hub", "older", { lastUsed: T0 - 9 * DAY, blobs: [d("o2")] }),
        img("hub", "pinned", { lastUsed: T0 - 9 * DAY, blobs: [d("p")], pinned: true }),
        img("ghcr", "elsewhere", { lastUsed: T0 - 9 * DAY, blobs: [d("e")] }),
      ],
      sizes: sizes({ r: 1, o: 2, o2: 4, p: 8, e: 16 }),
      policy: policy({ repos: { hub: { maxUnusedMs: DAY } } }),
    });
    assert.deepEqual(evicted(result), [
      ["hub", d("older"), "unused", 4],
      ["hub", d("old"), "unused", 2],
    ]);
    assert.equal(result.bytes, 6);
  });

  test("a repository over max_size loses its least recently used images down to the low-water mark", () => {
    const result = plan({
      images: [
        img("hub", "a", { lastUsed: T0 + 1, blobs: [d("a1")] }),
        img("hub", "b", { lastUsed: T0 + 2, blobs: [d("b1")] }),
        img("hub", "c", { lastUsed: T0 + 3, blobs: [d("c1")] }),
        img("hub", "d", { lastUsed: T0 + 4, blobs: [d("d1")] }),
        img("ghcr", "z", { lastUsed: T0, blobs: [d("z1")] }),
      ],
      sizes: sizes({ a1: 30, b1: 30, c1: 30, d1: 30, z1: 500 }),
      // 120 > 100; the low water is 90: a alone brings it there.
      policy: policy({ repos: { hub: { maxSize: 100 }, ghcr: {} } }),
    });
    assert.deepEqual(evicted(result), [["hub", d("a"), "repository-cap", 30]]);
    assert.deepEqual(result.after.repositories, { ghcr: 500, hub: 90 });
  });

  test("a shared layer is freed only with the last image that needs it", () => {
    const images = [
      img("hub", "a", { lastUsed: T0 + 1, blobs: [d("base"), d("a-top")] }),
      img("hub", "b", { lastUsed: T0 + 2, blobs: [d("base"), d("b-top")], name: "b" }),
    ];
    const sizing = sizes({ base: 100, "a-top": 10, "b-top": 20 });
    // 130 > 125; evicting a leaves 120, under the low water of 0.96 × 125.
    const one = plan({
      images,
      sizes: sizing,
      policy: policy({ lowWater: 0.96, repos: { hub: { maxSize: 125 } } }),
    });
    assert.deepEqual(
      one.evictions.map((e) => [e.image.digest, e.files.map((f) => f.digest)]),
      [[d("a"), [d("a"), d("a-top")]]],
    );
    const both = plan({ images, sizes: sizing, policy: policy({ repos: { hub: { maxSize: 50 } } }) });
    assert.deepEqual(
      both.evictions.map((e) => [e.image.digest, e.files.map((f) => f.digest).sort()]),
      [
        [d("a"), [d("a"), d("a-top")]],
        [d("b"), [d("b"), d("b-top"), d("base")].sort()],
      ],
    );
    assert.equal(both.bytes, 130);
  });

  test("a digest a hosted repository holds is never freed, though the proxy's link to it goes", () => {
    const result = plan({
      images: [img("hub", "a", { lastUsed: T0, blobs: [d("shared"), d("own")] })],
      sizes: sizes({ shared: 100, own: 10, hosted: 1000 }),
      held: [d("shared"), d("hosted")],
      policy: policy({ repos: { hub: { maxSize: 50 } } }),
    });
    const [eviction] = result.evictions;
    assert.deepEqual([...(eviction?.links ?? [])].sort(), [d("own"), d("shared")].sort());
    assert.deepEqual(eviction?.files.map((f) => f.digest).sort(), [d("a"), d("own")].sort());
    assert.equal(eviction?.repositoryBytes, 110);
    assert.deepEqual(result.before.total, 1110);
    assert.deepEqual(result.after, { total: 1100, repositories: { hub: 0 } });
  });

  test("the store cap evicts across repositories, least recently used first, to the low-water mark", () => {
    const result = plan({
      images: [
        img("hub", "a", { lastUsed: T0 + 3, blobs: [d("a1")] }),
        img("ghcr", "b", { lastUsed: T0 + 1, blobs: [d("b1")] }),
        img("hub", "c", { lastUsed: T0 + 2, blobs: [d("c1")] }),
      ],
      sizes: sizes({ a1: 40, b1: 40, c1: 40, hosted: 10 }),
      held: [d("hosted")],
      // 130 > 90; the low water is 81: b (to 90) then c (to 50).
      policy: policy({ maxSize: 90, repos: { hub: {}, ghcr: {} } }),
    });
    assert.deepEqual(evicted(result), [
      ["ghcr", d("b"), "store-cap", 40],
      ["hub", d("c"), "store-cap", 40],
    ]);
    assert.equal(result.after.total, 50);
  });

  test("a disk under min_free is freed up to min_free / low water", () => {
    const result = plan({
      images: [
        img("hub", "a", { lastUsed: T0 + 1, blobs: [d("a1")] }),
        img("hub", "b", { lastUsed: T0 + 2, blobs: [d("b1")] }),
        img("hub", "c", { lastUsed: T0 + 3, blobs: [d("c1")] }),
      ],
      sizes: sizes({ a1: 50, b1: 50, c1: 50 }),
      freeBytes: 60,
      // Needs 100 / 0.8 = 125 free: a and b.
      policy: policy({ minFree: 100, lowWater: 0.8, repos: { hub: {} } }),
    });
    assert.deepEqual(evicted(result), [
      ["hub", d("a"), "disk-floor", 50],
      ["hub", d("b"), "disk-floor", 50],
    ]);
    assert.equal(result.after.freeBytes, 160);
  });

  test("bounds that pins and hosted content keep broken are reported, with everything evictable gone", () => {
    const result = plan({
      images: [
        img("hub", "pinned", { lastUsed: T0, blobs: [d("p")], pinned: true }),
        img("hub", "free", { lastUsed: T0 + 1, blobs: [d("f")] }),
      ],
      sizes: sizes({ p: 500, f: 10, hosted: 500 }),
      held: [d("hosted")],
      policy: policy({ maxSize: 600, repos: { hub: { maxSize: 100 } } }),
    });
    assert.deepEqual(evicted(result), [["hub", d("free"), "repository-cap", 10]]);
    assert.deepEqual([...result.unmet].sort(), ["repository-cap", "store-cap"]);
  });

  test("an index goes with its platform manifests; one another index still uses stays until that one goes too", () => {
    const images = [
      img("hub", "index-1", {
        lastUsed: T0 + 1,
        manifests: [
          { digest: d("index-1"), children: [d("amd64"), d("arm64-old")] },
          { digest: d("amd64"), children: [d("layer-a")] },
          { digest: d("arm64-old"), children: [d("layer-b")] },
        ],
        blobs: [d("layer-a"), d("layer-b")],
        name: "app",
      }),
      img("hub", "index-2", {
        lastUsed: T0 + 2,
        manifests: [
          { digest: d("index-2"), children: [d("amd64")] },
          { digest: d("amd64"), children: [d("layer-a")] },
        ],
        blobs: [d("layer-a")],
        name: "app",
      }),
    ];
    const sizing = sizes({
      "index-1": 1,
      "index-2": 1,
      amd64: 1,
      "arm64-old": 1,
      "layer-a": 100,
      "layer-b": 100,
    });
    const first = plan({ images, sizes: sizing, policy: policy({ repos: { hub: { maxSize: 150 } } }) });
    assert.deepEqual(
      first.evictions.map((e) => [e.image.digest, [...e.manifests].sort(), e.links, e.bytes]),
      [[d("index-1"), [d("arm64-old"), d("index-1")], [d("layer-b")], 102]],
    );
    const all = plan({ images, sizes: sizing, policy: policy({ repos: { hub: { maxSize: 1 } } }) });
    assert.deepEqual(
      all.evictions.map((e) => [e.image.digest, [...e.manifests].sort()]),
      [
        [d("index-1"), [d("arm64-old"), d("index-1")]],
        [d("index-2"), [d("amd64"), d("index-2")]],
      ],
    );
    assert.deepEqual(all.after, { total: 0, repositories: { hub: 0 } });
  });

  test("a digest under two names of one repository counts once in its share and stays while either holds it", () => {
    const images = [
      img("hub", "a", { lastUsed: T0 + 1, blobs: [d("same")], name: "one" }),
      img("hub", "b", { lastUsed: T0 + 2, blobs: [d("same")], name: "two" }),
    ];
    const result = plan({
      images,
      sizes: sizes({ same: 100 }),
      policy: policy({ repos: { hub: { maxSize: 99 } } }),
    });
    assert.deepEqual(result.before.repositories, { hub: 100 });
    assert.deepEqual(
      result.evictions.map((e) => [e.image.digest, e.links, e.files.map((f) => f.digest), e.repositoryBytes]),
      [
        [d("a"), [d("same")], [d("a")], 0],
        [d("b"), [d("same")], [d("b"), d("same")], 100],
      ],
    );
  });
});
