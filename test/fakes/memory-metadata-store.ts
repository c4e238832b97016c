import type {
  BlobLink,
  BlobLinkEntry,
  ContentBytes,
  ManifestEntry,
  ManifestNode,
  ManifestRecord,
  MetadataTransaction,
  NameSpan,
  NewManifest,
  Page,
  PullUsage,
  RepositoryContent,
  TagEntry,
  TagRecord,
  UploadRecord,
  UsageBatch,
} from "../../src/meta/metadata-store.js";
import {
  type ActivityRecord,
  addSamples,
  hourOf,
  type NewActivity,
  type SeriesResolution,
  type SeriesSample,
} from "../../src/meta/ops-records.js";
import { SerializedMetadataStore } from "../../src/meta/serialized-store.js";
import { paginate } from "../../src/oci/pagination.js";
import { type Clock, systemClock } from "../../src/util/clock.js";

/**
 * A MetadataStore in plain maps, for in-process tests of repositories: no file, no native module,
 * and a Clock for the times it records itself (manifest and blob-link creation), so a test can
 * move them. It runs the same conformance suite as SQLite (test/unit/memory-metadata-store.test.ts),
 * transactions included: SerializedMetadataStore keeps callers out of an open one, and a rollback
 * puts back the copy taken at its start.
 */
export class MemoryMetadataStore extends SerializedMetadataStore {
  constructor(clock: Clock = systemClock) {
    const tables = new Tables(clock);
    let saved: State | undefined;
    super({
      statements: tables,
      begin: () => {
        saved = structuredClone(tables.state);
      },
      commit: () => {
        saved = undefined;
      },
      rollback: () => {
        if (saved) tables.state = saved;
        saved = undefined;
      },
      close: () => {},
    });
  }
}

const DEFAULT_PAGE = 10_000;

/** Keys join their parts with a character no repository, name, tag or digest can contain. */
const key = (...parts: string[]): string => parts.join("\n");

interface StoredManifest {
  readonly repo: string;
  readonly name: string;
  readonly record: ManifestRecord;
  readonly references: Set<string>;
  usage: PullUsage;
}

interface StoredTag extends TagRecord {
  readonly repo: string;
  readonly name: string;
  readonly tag: string;
  readonly usage: PullUsage;
}

interface StoredLink extends BlobLink {
  readonly size: number;
  readonly lastServedAt?: number;
}

interface State {
  manifests: Map<string, StoredManifest>;
  tags: Map<string, StoredTag>;
  blobs: Map<string, StoredLink>;
  uploads: Map<string, UploadRecord>;
  series: Record<SeriesResolution, Map<string, SeriesSample>>;
  activity: ActivityRecord[];
  lastActivityId: number;
}

const NEVER_PULLED: PullUsage = { pulls: 0 };

/** Counts add up, the last time only moves forward: as SQLite's UPDATE … MAX(). */
function added(usage: PullUsage, pulls: number, at: number): PullUsage {
  return { pulls: usage.pulls + pulls, lastPulledAt: Math.max(usage.lastPulledAt ?? 0, at) };
}

/** Lexical order, as SQLite's default collation gives it for these ASCII keys. */
const lexical = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A page as SQLite's LIMIT gives it: never more than DEFAULT_PAGE at once. */
function paged(values: Iterable<string>, page: Page): { items: string[]; more: boolean } {
  const { values: items, more } = paginate(values, { ...page, limit: page.limit ?? DEFAULT_PAGE });
  return { items, more };
}

class Tables implements MetadataTransaction {
  readonly #clock: Clock;
  state: State = {
    manifests: new Map(),
    tags: new Map(),
    blobs: new Map(),
    uploads: new Map(),
    series: { minute: new Map(), hour: new Map() },
    activity: [],
    lastActivityId: 0,
  };

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  async getManifest(repo: string, name: string, digest: string): Promise<ManifestRecord | undefined> {
    return this.state.manifests.get(key(repo, name, digest))?.record;
  }

  async putManifest(repo: string, name: string, manifest: NewManifest): Promise<void> {
    const id = key(repo, name, manifest.digest);
    const existing = this.state.manifests.get(id);
    if (existing) {
      // As SQLite's INSERT OR IGNORE: the first record stays, references add up.
      for (const child of manifest.references) existing.references.add(child);
      return;
    }
    const { references, ...fields } = manifest;
    this.state.manifests.set(id, {
      repo,
      name,
      record: { ...fields, createdAt: this.#clock.now() },
      references: new Set(references),
      usage: NEVER_PULLED,
    });
  }

  async deleteManifest(repo: string, name: string, digest: string): Promise<boolean> {
    const removed = this.state.manifests.delete(key(repo, name, digest));
    for (const [id, tag] of this.state.tags)
      if (tag.repo === repo && tag.name === name && tag.digest === digest) this.state.tags.delete(id);
    return removed;
  }

  async hasName(repo: string, name: string): Promise<boolean> {
    const here = (row: { repo: string; name: string }) => row.repo === repo && row.name === name;
    return (
      [...this.state.manifests.values()].some(here) ||
      [...this.state.tags.values()].some(here) ||
      [...this.state.blobs.values()].some(here)
    );
  }

  async listReferrers(repo: string, name: string, digest: string): Promise<ManifestRecord[]> {
    return [...this.state.manifests.values()]
      .filter((m) => m.repo === repo && m.name === name && m.record.subject === digest)
      .map((m) => m.record)
      .sort((a, b) => lexical(a.digest, b.digest));
  }

  async getTag(repo: string, name: string, tag: string): Promise<TagRecord | undefined> {
    const stored = this.state.tags.get(key(repo, name, tag));
    return stored && { digest: stored.digest, updatedAt: stored.updatedAt, validatedAt: stored.validatedAt };
  }

  async setTag(repo: string, name: string, tag: string, digest: string, now: number): Promise<void> {
    const id = key(repo, name, tag);
    const existing = this.state.tags.get(id);
    const updatedAt = existing?.digest === digest ? existing.updatedAt : now;
    const usage = existing?.usage ?? NEVER_PULLED;
    this.state.tags.set(id, { repo, name, tag, digest, updatedAt, validatedAt: now, usage });
  }

  async markTagValidated(repo: string, name: string, tag: string, now: number): Promise<void> {
    const id = key(repo, name, tag);
    const existing = this.state.tags.get(id);
    if (existing) this.state.tags.set(id, { ...existing, validatedAt: now });
  }

  async deleteTag(repo: string, name: string, tag: string): Promise<boolean> {
    return this.state.tags.delete(key(repo, name, tag));
  }

  async listTags(repo: string, name: string, page: Page = {}): Promise<{ tags: string[]; more: boolean }> {
    const tags = [...this.state.tags.values()]
      .filter((t) => t.repo === repo && t.name === name)
      .map((t) => t.tag);
    const { items, more } = paged(tags, page);
    return { tags: items, more };
  }

  async hasBlob(repo: string, name: string, digest: string): Promise<boolean> {
    return this.state.blobs.has(key(repo, name, digest));
  }

  async linkBlob(repo: string, name: string, digest: string, size: number): Promise<void> {
    const id = key(repo, name, digest);
    if (!this.state.blobs.has(id))
      this.state.blobs.set(id, { repo, name, digest, size, createdAt: this.#clock.now() });
  }

  async unlinkBlob(repo: string, name: string, digest: string): Promise<boolean> {
    return this.state.blobs.delete(key(repo, name, digest));
  }

  async listNames(repo: string, page: Page = {}): Promise<{ names: string[]; more: boolean }> {
    const names = [...this.state.manifests.values()].filter((m) => m.repo === repo).map((m) => m.name);
    const { items, more } = paged(names, page);
    return { names: items, more };
  }

  async createUpload(upload: UploadRecord): Promise<void> {
    if (this.state.uploads.has(upload.id)) throw new Error(`upload ${upload.id} exists already`);
    this.state.uploads.set(upload.id, { ...upload });
  }

  async getUpload(id: string): Promise<UploadRecord | undefined> {
    return this.state.uploads.get(id);
  }

  async setUploadOffset(id: string, offset: number, now: number): Promise<void> {
    const existing = this.state.uploads.get(id);
    if (existing) this.state.uploads.set(id, { ...existing, offset, updatedAt: now });
  }

  async deleteUpload(id: string): Promise<void> {
    this.state.uploads.delete(id);
  }

  async listIdleUploads(before: number): Promise<UploadRecord[]> {
    return [...this.state.uploads.values()]
      .filter((upload) => upload.updatedAt < before)
      .sort((a, b) => a.updatedAt - b.updatedAt);
  }

  async listManifestNodes(repo: string): Promise<ManifestNode[]> {
    return [...this.state.manifests.values()]
      .filter((m) => m.repo === repo)
      .map((m) => ({
        name: m.name,
        digest: m.record.digest,
        children: [...m.references],
        ...(m.record.subject === undefined ? {} : { subject: m.record.subject }),
      }));
  }

  async listAllTags(repo: string): Promise<Array<{ name: string; tag: string; digest: string }>> {
    return [...this.state.tags.values()]
      .filter((t) => t.repo === repo)
      .sort((a, b) => lexical(a.name, b.name) || lexical(a.tag, b.tag))
      .map(({ name, tag, digest }) => ({ name, tag, digest }));
  }

  async listRepositories(): Promise<string[]> {
    const repos = new Set<string>();
    for (const table of [this.state.manifests, this.state.tags, this.state.blobs])
      for (const row of table.values()) repos.add(row.repo);
    return [...repos].sort(lexical);
  }

  async listBlobLinks(): Promise<BlobLink[]> {
    return [...this.state.blobs.values()]
      .sort((a, b) => lexical(a.digest, b.digest))
      .map(({ repo, name, digest, createdAt }) => ({ repo, name, digest, createdAt }));
  }

  async recordUsage(batch: UsageBatch): Promise<void> {
    for (const m of batch.manifests) {
      const stored = this.state.manifests.get(key(m.repo, m.name, m.digest));
      if (stored) stored.usage = added(stored.usage, m.pulls, m.at);
    }
    for (const t of batch.tags) {
      const id = key(t.repo, t.name, t.tag);
      const stored = this.state.tags.get(id);
      if (stored) this.state.tags.set(id, { ...stored, usage: added(stored.usage, t.pulls, t.at) });
    }
    for (const b of batch.blobs) {
      const id = key(b.repo, b.name, b.digest);
      const stored = this.state.blobs.get(id);
      if (stored)
        this.state.blobs.set(id, { ...stored, lastServedAt: Math.max(stored.lastServedAt ?? 0, b.at) });
    }
  }

  async listContent(repo: string, span: NameSpan = {}): Promise<RepositoryContent> {
    // Names compare as SQLite and PostgreSQL (COLLATE "C") compare them: by code unit, for ASCII names.
    const held = (row: { repo: string; name: string }) =>
      row.repo === repo &&
      (span.after === undefined || row.name > span.after) &&
      (span.through === undefined || row.name <= span.through);
    const manifests = [...this.state.manifests.values()].filter(held).map(
      (m): ManifestEntry => ({
        name: m.name,
        digest: m.record.digest,
        children: [...m.references],
        size: m.record.size,
        createdAt: m.record.createdAt,
        ...m.usage,
        ...(m.record.subject === undefined ? {} : { subject: m.record.subject }),
      }),
    );
    const tags = [...this.state.tags.values()]
      .filter(held)
      .map(
        (t): TagEntry => ({ name: t.name, tag: t.tag, digest: t.digest, updatedAt: t.updatedAt, ...t.usage }),
      );
    const blobs = [...this.state.blobs.values()].filter(held).map(
      (b): BlobLinkEntry => ({
        name: b.name,
        digest: b.digest,
        size: b.size,
        createdAt: b.createdAt,
        ...(b.lastServedAt === undefined ? {} : { lastServedAt: b.lastServedAt }),
      }),
    );
    return { manifests, tags, blobs };
  }

  async measureContent(): Promise<ContentBytes> {
    const files = [
      ...[...this.state.blobs.values()].map((b) => ({ repo: b.repo, digest: b.digest, size: b.size })),
      ...[...this.state.manifests.values()].map((m) => ({
        repo: m.repo,
        digest: m.record.digest,
        size: m.record.size,
      })),
    ];
    const perRepo = new Map<string, Map<string, number>>();
    const overall = new Map<string, number>();
    for (const file of files) {
      const sizes = perRepo.get(file.repo) ?? new Map<string, number>();
      sizes.set(file.digest, Math.max(sizes.get(file.digest) ?? 0, file.size));
      perRepo.set(file.repo, sizes);
      overall.set(file.digest, Math.max(overall.get(file.digest) ?? 0, file.size));
    }
    const sum = (sizes: Map<string, number>) => [...sizes.values()].reduce((total, size) => total + size, 0);
    const repositories: Record<string, number> = {};
    for (const repo of [...perRepo.keys()].sort(lexical))
      repositories[repo] = sum(perRepo.get(repo) ?? new Map());
    return { total: sum(overall), repositories };
  }

  async isReferenced(digest: string): Promise<boolean> {
    return (
      [...this.state.blobs.values()].some((b) => b.digest === digest) ||
      [...this.state.manifests.values()].some((m) => m.record.digest === digest || m.references.has(digest))
    );
  }

  async forgetDigest(
    digest: string,
  ): Promise<{ links: BlobLink[]; manifests: Array<{ repo: string; name: string }> }> {
    const byPlace = (a: { repo: string; name: string }, b: { repo: string; name: string }) =>
      lexical(a.repo, b.repo) || lexical(a.name, b.name);
    const links: BlobLink[] = [];
    for (const [id, link] of this.state.blobs) {
      if (link.digest !== digest) continue;
      links.push({ repo: link.repo, name: link.name, digest, createdAt: link.createdAt });
      this.state.blobs.delete(id);
    }
    const manifests = [...this.state.manifests.values()]
      .filter((m) => m.record.digest === digest)
      .map(({ repo, name }) => ({ repo, name }));
    for (const { repo, name } of manifests) await this.deleteManifest(repo, name, digest);
    return { links: links.sort(byPlace), manifests: manifests.sort(byPlace) };
  }

  async recordSamples(samples: readonly SeriesSample[]): Promise<void> {
    for (const sample of samples) {
      for (const [table, at] of [
        [this.state.series.minute, sample.at],
        [this.state.series.hour, hourOf(sample.at)],
      ] as const) {
        const id = key(String(at), sample.repo);
        const existing = table.get(id);
        table.set(id, existing ? addSamples(existing, sample) : { ...sample, at });
      }
    }
  }

  async listSamples(resolution: SeriesResolution, since: number): Promise<SeriesSample[]> {
    return [...this.state.series[resolution].values()]
      .filter((s) => s.at >= since)
      .sort((a, b) => a.at - b.at || lexical(a.repo, b.repo));
  }

  async trimSamples(minutesBefore: number, hoursBefore: number): Promise<void> {
    for (const [table, before] of [
      [this.state.series.minute, minutesBefore],
      [this.state.series.hour, hoursBefore],
    ] as const) {
      for (const [id, sample] of table) if (sample.at < before) table.delete(id);
    }
  }

  async appendActivity(events: readonly NewActivity[]): Promise<void> {
    for (const event of events) this.state.activity.push({ ...event, id: ++this.state.lastActivityId });
  }

  async listActivity(query: { limit: number; before?: number; repo?: string }): Promise<ActivityRecord[]> {
    const before = query.before ?? Number.MAX_SAFE_INTEGER;
    return this.state.activity
      .filter((e) => e.id < before && (query.repo === undefined || e.repo === query.repo))
      .reverse()
      .slice(0, query.limit);
  }

  async trimActivity(keep: number): Promise<void> {
    this.state.activity = this.state.activity.slice(Math.max(0, this.state.activity.length - keep));
  }
}
