import { type IngestGuard, LocalIngestGuard } from "../coordination/ingest-guard.js";
import type { BlobLink, ManifestNode, MetadataStore } from "../meta/metadata-store.js";
import type { BlobStore } from "../store/blob-store.js";

/**
 * The manifests of one repository that nothing keeps alive: not tagged, not a child of a kept
 * index, not a referrer (signature, SBOM…) of a kept manifest. Pure, so it can be tested alone.
 */
export function unreachableManifests(
  nodes: readonly ManifestNode[],
  tags: ReadonlyArray<{ name: string; digest: string }>,
): ManifestNode[] {
  const key = (name: string, digest: string) => `${name}@${digest}`;
  const byKey = new Map(nodes.map((node) => [key(node.name, node.digest), node]));
  const referrers = new Map<string, ManifestNode[]>();
  for (const node of nodes) {
    if (node.subject === undefined) continue;
    const subjectKey = key(node.name, node.subject);
    referrers.set(subjectKey, [...(referrers.get(subjectKey) ?? []), node]);
  }
  const kept = new Set<string>();
  const pending = tags.map((tag) => key(tag.name, tag.digest));
  while (pending.length > 0) {
    const next = pending.pop() as string;
    if (kept.has(next)) continue;
    kept.add(next);
    const node = byKey.get(next);
    if (node) for (const child of node.children) pending.push(key(node.name, child));
    for (const referrer of referrers.get(next) ?? []) pending.push(key(referrer.name, referrer.digest));
  }
  return nodes.filter((node) => !kept.has(key(node.name, node.digest)));
}

export interface GcOptions {
  /** Report what would go, change nothing. */
  readonly dryRun: boolean;
  /** Also remove manifests that no tag reaches, in these (hosted) repositories. */
  readonly untaggedIn: readonly string[];
  /** Content younger than this is never removed: a push may be about to reference it. */
  readonly graceMs: number;
  readonly now?: number;
  /** The digests being ingested in this process (a server's own run); none are deleted meanwhile. */
  readonly ingests?: IngestGuard;
}

export interface GcReport {
  readonly manifests: Array<{ repo: string; name: string; digest: string }>;
  readonly links: BlobLink[];
  readonly blobs: Array<{ digest: string; size: number }>;
  readonly bytes: number;
}

/** What a sweep needs of the blob store: finding, dating and deleting files. */
export type SweptBlobs = Pick<BlobStore, "digests" | "storedAt" | "stat" | "delete">;

/**
 * Mark and sweep over the shared blob store. Kept: every digest that some manifest of any
 * repository is or references. Removed: repository links to anything else once older than the
 * grace period, then files nothing links or references any more.
 *
 * The metadata deletions of a run (manifests, blob links) commit as one transaction, and files
 * are deleted only after it: a crash in between leaves files nothing points at, which the next
 * run removes, and never metadata pointing at a deleted file. Each file is checked against
 * metadata once more just before it goes (inside the ingest guard's turn), so a link made since
 * the run looked keeps it.
 */
export async function collectGarbage(
  meta: MetadataStore,
  blobs: SweptBlobs,
  options: GcOptions,
): Promise<GcReport> {
  const now = options.now ?? Date.now();
  const old = (time: number) => now - time >= options.graceMs;
  const manifests: GcReport["manifests"] = [];
  for (const repo of options.untaggedIn) {
    const doomed = unreachableManifests(await meta.listManifestNodes(repo), await meta.listAllTags(repo));
    for (const node of doomed) manifests.push({ repo, name: node.name, digest: node.digest });
  }
  const referenced = await referencedDigests(
    meta,
    new Set(manifests.map((m) => `${m.repo}\n${m.name}@${m.digest}`)),
  );
  const links: BlobLink[] = [];
  const linked = new Set<string>();
  for (const link of await meta.listBlobLinks()) {
    if (referenced.has(link.digest) || !old(link.createdAt)) linked.add(link.digest);
    else links.push(link);
  }
  if (!options.dryRun) {
    await meta.transaction(async (tx) => {
      for (const m of manifests) await tx.deleteManifest(m.repo, m.name, m.digest);
      for (const link of links) await tx.unlinkBlob(link.repo, link.name, link.digest);
    });
  }
  const removed: GcReport["blobs"] = [];
  let bytes = 0;
  const ingests = options.ingests ?? new LocalIngestGuard();
  for await (const digest of blobs.digests()) {
    if (referenced.has(digest) || linked.has(digest)) continue;
    const storedAt = await blobs.storedAt(digest);
    if (storedAt === undefined || !old(storedAt)) continue;
    const size = (await blobs.stat(digest)) ?? 0;
    if (!options.dryRun && !(await deleteUnneeded(meta, blobs, ingests, digest))) continue;
    removed.push({ digest, size });
    bytes += size;
  }
  return { manifests, links, blobs: removed, bytes };
}

/**
 * Deletes the file of `digest` unless something needs it now: a digest being ingested, or one that
 * metadata links or references (again). The one way eviction and garbage collection delete files.
 */
export async function deleteUnneeded(
  meta: Pick<MetadataStore, "isReferenced">,
  blobs: Pick<BlobStore, "delete">,
  ingests: IngestGuard,
  digest: string,
): Promise<boolean> {
  let deleted = false;
  await ingests.remove(digest, async () => {
    if (await meta.isReferenced(digest)) return;
    await blobs.delete(digest);
    deleted = true;
  });
  return deleted;
}

/** Every digest a remaining manifest is or references, in any repository (a dry run skips the doomed ones). */
async function referencedDigests(meta: MetadataStore, doomed: ReadonlySet<string>): Promise<Set<string>> {
  const referenced = new Set<string>();
  for (const repo of await meta.listRepositories()) {
    for (const node of await meta.listManifestNodes(repo)) {
      if (doomed.has(`${repo}\n${node.name}@${node.digest}`)) continue;
      referenced.add(node.digest);
      for (const child of node.children) referenced.add(child);
    }
  }
  return referenced;
}
