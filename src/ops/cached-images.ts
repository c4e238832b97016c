import type { ManifestEntry, RepositoryContent } from "../meta/metadata-store.js";
import { matchesGlob } from "../util/glob.js";

/**
 * What eviction removes as one: an image of a proxy repository, i.e. a root manifest with
 * everything it brings along under the same name (an index's platform manifests, the referrers
 * of any of them, the blobs they reference that are linked there), and every tag pointing at it.
 * A blob linked under a name where no manifest references it is an "image" of its own.
 */
export interface CachedImage {
  readonly repo: string;
  readonly name: string;
  readonly kind: "image" | "blob";
  /** The root manifest's digest (for a lone blob, the blob's). */
  readonly digest: string;
  readonly tags: readonly string[];
  /** When a client last pulled it (any of its manifests or tags); when it was cached if never. */
  readonly lastUsed: number;
  /** Whether `lastUsed` is a pull rather than the time it was cached. */
  readonly pulled: boolean;
  /** Matched by one of the repository's `keep` patterns: never evicted. */
  readonly pinned: boolean;
  /** The manifests it holds, with what each references. */
  readonly manifests: ReadonlyArray<{ readonly digest: string; readonly children: readonly string[] }>;
  /** The blob links it holds. */
  readonly blobs: readonly string[];
  /** Bytes of its manifests and blobs, counted once each (some may be shared with other images). */
  readonly size: number;
}

/** Whether a `keep` pattern pins an image of `name` with these tags: `name-glob` or `name-glob:tag-glob`. */
export function isPinned(keep: readonly string[], name: string, tags: readonly string[]): boolean {
  return keep.some((pattern) => {
    const colon = pattern.indexOf(":");
    if (colon < 0) return matchesGlob(pattern, name);
    const tagGlob = pattern.slice(colon + 1);
    return matchesGlob(pattern.slice(0, colon), name) && tags.some((tag) => matchesGlob(tagGlob, tag));
  });
}

/** The images a repository's content makes up (see CachedImage). Pure. */
export function cachedImages(
  repo: string,
  content: RepositoryContent,
  keep: readonly string[],
): CachedImage[] {
  const byName = new Map<
    string,
    {
      manifests: ManifestEntry[];
      tags: RepositoryContent["tags"][number][];
      blobs: RepositoryContent["blobs"][number][];
    }
  >();
  const slot = (name: string) => {
    let entry = byName.get(name);
    if (!entry) {
      entry = { manifests: [], tags: [], blobs: [] };
      byName.set(name, entry);
    }
    return entry;
  };
  for (const m of content.manifests) slot(m.name).manifests.push(m);
  for (const t of content.tags) slot(t.name).tags.push(t);
  for (const b of content.blobs) slot(b.name).blobs.push(b);
  const images: CachedImage[] = [];
  for (const [name, held] of [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    images.push(...imagesOfName(repo, name, held, keep));
  }
  return images;
}

function imagesOfName(
  repo: string,
  name: string,
  held: {
    manifests: ManifestEntry[];
    tags: RepositoryContent["tags"][number][];
    blobs: RepositoryContent["blobs"][number][];
  },
  keep: readonly string[],
): CachedImage[] {
  const manifests = new Map(held.manifests.map((m) => [m.digest, m]));
  const links = new Map(held.blobs.map((b) => [b.digest, b]));
  const tagsOf = new Map<string, RepositoryContent["tags"][number][]>();
  for (const tag of held.tags) {
    if (!manifests.has(tag.digest)) continue; // learnt from a HEAD, never fetched: nothing to evict
    tagsOf.set(tag.digest, [...(tagsOf.get(tag.digest) ?? []), tag]);
  }
  const children = new Set<string>();
  const referrers = new Map<string, ManifestEntry[]>();
  for (const m of manifests.values()) {
    for (const child of m.children) if (manifests.has(child)) children.add(child);
    if (m.subject !== undefined && manifests.has(m.subject)) {
      referrers.set(m.subject, [...(referrers.get(m.subject) ?? []), m]);
    }
  }
  const isRoot = (m: ManifestEntry) =>
    tagsOf.has(m.digest) ||
    (!children.has(m.digest) && (m.subject === undefined || !manifests.has(m.subject)));
  const covered = new Set<string>();
  const images: CachedImage[] = [];
  for (const root of [...manifests.values()].filter(isRoot).sort(byDigest)) {
    const closure = new Map<string, ManifestEntry>();
    const pending = [root];
    while (pending.length > 0) {
      const next = pending.pop() as ManifestEntry;
      if (closure.has(next.digest)) continue;
      closure.set(next.digest, next);
      for (const child of next.children) {
        const manifest = manifests.get(child);
        if (manifest) pending.push(manifest);
      }
      pending.push(...(referrers.get(next.digest) ?? []));
    }
    const blobs = new Set<string>();
    for (const m of closure.values()) for (const child of m.children) if (links.has(child)) blobs.add(child);
    for (const digest of blobs) covered.add(digest);
    const tags = tagsOf.get(root.digest) ?? [];
    const pulls = [
      ...[...closure.values()].map((m) => m.lastPulledAt),
      ...tags.map((t) => t.lastPulledAt),
    ].filter((time): time is number => time !== undefined);
    const tagNames = tags.map((t) => t.tag).sort();
    images.push({
      repo,
      name,
      kind: "image",
      digest: root.digest,
      tags: tagNames,
      lastUsed: pulls.length > 0 ? Math.max(...pulls) : root.createdAt,
      pulled: pulls.length > 0,
      pinned: isPinned(keep, name, tagNames),
      manifests: [...closure.values()].map((m) => ({ digest: m.digest, children: m.children })),
      blobs: [...blobs],
      size:
        [...closure.values()].reduce((sum, m) => sum + m.size, 0) +
        [...blobs].reduce((sum, d) => sum + (links.get(d)?.size ?? 0), 0),
    });
  }
  for (const link of [...links.values()].sort(byDigest)) {
    if (covered.has(link.digest)) continue;
    images.push({
      repo,
      name,
      kind: "blob",
      digest: link.digest,
      tags: [],
      lastUsed: link.lastServedAt ?? link.createdAt,
      pulled: link.lastServedAt !== undefined,
      pinned: isPinned(keep, name, []),
      manifests: [],
      blobs: [link.digest],
      size: link.size,
    });
  }
  return images;
}

/** Every digest a repository's content is or references: what must stay for a repository eviction never touches. */
export function digestsHeldBy(content: RepositoryContent): string[] {
  const held = new Set<string>();
  for (const m of content.manifests) {
    held.add(m.digest);
    for (const child of m.children) held.add(child);
  }
  for (const b of content.blobs) held.add(b.digest);
  return [...held];
}

/** The size of every manifest and linked blob of a repository's content, by digest. */
export function sizesIn(content: RepositoryContent, into: Map<string, number>): void {
  for (const m of content.manifests) into.set(m.digest, Math.max(into.get(m.digest) ?? 0, m.size));
  for (const b of content.blobs) into.set(b.digest, Math.max(into.get(b.digest) ?? 0, b.size));
}

function byDigest(a: { digest: string }, b: { digest: string }): number {
  return a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
}
