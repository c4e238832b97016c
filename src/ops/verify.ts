import type { MetadataStore } from "../meta/metadata-store.js";
import { createDigester, tryParseDigest } from "../oci/digest.js";
import type { BlobStore } from "../store/blob-store.js";
import { NotFoundError } from "../util/errors.js";

/** Who points at a digest: a blob link, or a manifest that is it. */
export interface Holder {
  readonly repo: string;
  readonly name: string;
  readonly as: "blob" | "manifest";
}

export interface VerifyProblem {
  /** corrupt: the file's bytes are not its digest's; missing: metadata points at a file that is not there. */
  readonly kind: "corrupt" | "missing";
  readonly digest: string;
  /** What the bytes of a corrupt file hash to (absent when its name is not even a digest). */
  readonly actual?: string;
  readonly holders: readonly Holder[];
  /** With --repair: where the corrupt file went, and the metadata removed so the next pull fetches it again. */
  readonly repaired?: { readonly quarantinedTo?: string; readonly links: number; readonly manifests: number };
}

/** A manifest still recorded whose content lost a blob to the repair: what its repository must fetch or be pushed again. */
export interface Damaged {
  readonly repo: string;
  readonly name: string;
  readonly manifest: string;
  readonly lost: readonly string[];
}

export interface VerifyReport {
  /** Files re-hashed, and their bytes. */
  readonly files: number;
  readonly bytes: number;
  readonly problems: readonly VerifyProblem[];
  readonly damaged: readonly Damaged[];
}

export interface VerifyOptions {
  readonly repair: boolean;
  /** Told of each problem as it is found (and repaired), so a long run reports as it goes. */
  readonly onProblem?: (problem: VerifyProblem) => void;
}

/**
 * Re-hashes every stored file and checks metadata against the files: a file whose bytes are not
 * its digest's is corrupt, a link or manifest whose file is gone is missing. With `repair`, a
 * corrupt file is moved to quarantine first (so nothing serves it any more) and then every link and
 * manifest pointing at a corrupt or missing digest is removed, so the next pull fetches it again.
 *
 * Safe beside a running server: it reads, and what it changes concerns content that was already
 * broken. A file that vanishes while it is checked was evicted or collected, not lost; a missing
 * file counts only when metadata still points at it when checked again.
 */
export async function verifyStore(
  meta: MetadataStore,
  blobs: Pick<BlobStore, "digests" | "read" | "stat" | "quarantine">,
  options: VerifyOptions,
): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const report = async (problem: VerifyProblem) => {
    const repaired = options.repair ? await repair(meta, blobs, problem) : undefined;
    const final = repaired ? { ...problem, repaired } : problem;
    problems.push(final);
    options.onProblem?.(final);
  };
  let files = 0;
  let bytes = 0;
  const holders = await holdersByDigest(meta);
  for await (const digest of blobs.digests()) {
    const checked = await rehash(blobs, digest);
    if (checked === "vanished") continue;
    files++;
    bytes += checked.bytes;
    if (checked.actual === digest) continue;
    await report({
      kind: "corrupt",
      digest,
      ...(checked.actual === undefined ? {} : { actual: checked.actual }),
      holders: holders.get(digest) ?? [],
    });
  }
  const seen = new Set(problems.map((problem) => problem.digest));
  for (const [digest, held] of holders) {
    if (seen.has(digest) || (await blobs.stat(digest)) !== undefined) continue;
    const still = await stillHeld(meta, digest, held);
    if (still.length > 0) await report({ kind: "missing", digest, holders: still });
  }
  const lost = new Set(problems.filter((problem) => problem.repaired).map((problem) => problem.digest));
  return { files, bytes, problems, damaged: lost.size > 0 ? await damagedBy(meta, lost) : [] };
}

/** The digest a file's bytes have, or "vanished" when it went while being read. */
async function rehash(
  blobs: Pick<BlobStore, "read">,
  digest: string,
): Promise<{ actual: string | undefined; bytes: number } | "vanished"> {
  const parsed = tryParseDigest(digest);
  if (!parsed) return { actual: undefined, bytes: 0 };
  let body: Awaited<ReturnType<BlobStore["read"]>>;
  try {
    body = await blobs.read(digest);
  } catch (error) {
    if (error instanceof NotFoundError) return "vanished";
    throw error;
  }
  const hasher = createDigester(parsed.algorithm);
  let bytes = 0;
  try {
    for await (const chunk of body.stream()) {
      hasher.update(chunk as Buffer);
      bytes += (chunk as Buffer).byteLength;
    }
  } finally {
    body.release();
  }
  return { actual: `${parsed.algorithm}:${hasher.digest("hex")}`, bytes };
}

async function holdersByDigest(meta: MetadataStore): Promise<Map<string, Holder[]>> {
  const holders = new Map<string, Holder[]>();
  const add = (digest: string, holder: Holder) =>
    holders.set(digest, [...(holders.get(digest) ?? []), holder]);
  for (const link of await meta.listBlobLinks())
    add(link.digest, { repo: link.repo, name: link.name, as: "blob" });
  for (const repo of await meta.listRepositories()) {
    for (const node of await meta.listManifestNodes(repo))
      add(node.digest, { repo, name: node.name, as: "manifest" });
  }
  return holders;
}

/** The holders that still point at `digest` now (eviction may have removed some since the listing). */
async function stillHeld(meta: MetadataStore, digest: string, held: readonly Holder[]): Promise<Holder[]> {
  const still: Holder[] = [];
  for (const holder of held) {
    const present =
      holder.as === "blob"
        ? await meta.hasBlob(holder.repo, holder.name, digest)
        : (await meta.getManifest(holder.repo, holder.name, digest)) !== undefined;
    if (present) still.push(holder);
  }
  return still;
}

async function repair(
  meta: MetadataStore,
  blobs: Pick<BlobStore, "quarantine">,
  problem: VerifyProblem,
): Promise<NonNullable<VerifyProblem["repaired"]>> {
  // The file goes first: from then on nobody is served its bytes, whatever metadata still says.
  const quarantinedTo =
    problem.kind === "corrupt" && tryParseDigest(problem.digest)
      ? await blobs.quarantine(problem.digest)
      : undefined;
  const forgotten = tryParseDigest(problem.digest)
    ? await meta.forgetDigest(problem.digest)
    : { links: [], manifests: [] };
  return {
    ...(quarantinedTo === undefined ? {} : { quarantinedTo }),
    links: forgotten.links.length,
    manifests: forgotten.manifests.length,
  };
}

/** Remaining manifests that reference a digest the repair removed from their repository. */
async function damagedBy(meta: MetadataStore, lost: ReadonlySet<string>): Promise<Damaged[]> {
  const damaged: Damaged[] = [];
  for (const repo of await meta.listRepositories()) {
    for (const node of await meta.listManifestNodes(repo)) {
      const gone = node.children.filter((child) => lost.has(child));
      if (gone.length > 0) damaged.push({ repo, name: node.name, manifest: node.digest, lost: gone });
    }
  }
  return damaged;
}
