import type { MetadataStore, RepositoryContent } from "../meta/metadata-store.js";
import type { BlobStore } from "../store/blob-store.js";
import type { SmallContent } from "../store/small-content.js";
import { type Clock, systemClock } from "../util/clock.js";
import { SingleFlight } from "../util/single-flight.js";
import { cachedImages } from "./cached-images.js";
import { contentSlices } from "./content-slices.js";
import {
  anatomyOf,
  type ImageAnatomy,
  type ImageKind,
  kindOf,
  platformsOf,
  type StoredContent,
} from "./image-anatomy.js";

/** A tag of an image, with its use. */
export interface CatalogTag {
  readonly tag: string;
  readonly updatedAt: number;
  readonly pulls?: number;
  readonly lastPulledAt?: number;
}

/** An image a repository holds: a top-level manifest (an image or an index) and its tags. */
export interface CatalogImage {
  readonly repo: string;
  readonly name: string;
  readonly digest: string;
  readonly tags: readonly CatalogTag[];
  /** Its manifests and the blobs linked here that they reference, each once. */
  readonly size: number;
  /** When it was pushed here or fetched from upstream. */
  readonly createdAt: number;
  readonly pulls?: number;
  readonly lastPulledAt?: number;
}

/** Where the catalog reads a repository's images from. */
export interface ImageSource {
  images(repo: string): Promise<CatalogImage[]>;
}

export type ImageSortKey = "name" | "lastPulled" | "pulls" | "size" | "created";

export interface ImageFilter {
  /** Case-insensitive substring of the name or of a tag. */
  readonly q: string;
  readonly tagged?: boolean;
  readonly platform?: string;
  readonly sort: ImageSortKey;
  readonly order: "asc" | "desc";
  readonly offset: number;
  readonly limit: number;
}

/** An image of a listing's page, with what only the page needs read from the store. */
export interface ListedImage extends CatalogImage {
  readonly mediaType: string;
  readonly kind: ImageKind;
  readonly platforms: readonly string[];
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function sortValue(image: CatalogImage, key: ImageSortKey): number | string {
  switch (key) {
    case "name":
      return image.name;
    case "lastPulled":
      return image.lastPulledAt ?? -1;
    case "pulls":
      return image.pulls ?? -1;
    case "size":
      return image.size;
    case "created":
      return image.createdAt;
  }
}

/** Platforms never change for a digest: remembered, up to this many. */
const PLATFORMS_KEPT = 200_000;

/**
 * The images of repositories, as the dashboard and the admin API list them: filtered, sorted and
 * paged over everything a caller may see (so a page is never short because of what they may
 * not), with only the page's images read further from the store (media type, platforms).
 */
export class ImageCatalog {
  readonly #source: ImageSource;
  readonly #meta: MetadataStore;
  readonly #blobs: BlobStore;
  readonly #documents: SmallContent;
  readonly #platforms = new Map<string, readonly string[]>();
  /** The dashboard asks for a repository's images from several requests at once (overview, page, count). */
  readonly #loading = new SingleFlight<CatalogImage[]>();
  readonly #read = new Map<string, { at: number; images: CatalogImage[] }>();
  /** Bumped by every change: a read begun before it is neither joined nor kept after it. */
  readonly #generation = new Map<string, number>();
  readonly #maxAgeMs: number;
  readonly #clock: Clock;

  /**
   * A repository's images are read whole (10,000 images take a few hundred milliseconds) and kept;
   * whatever this process changes (a push, a delete, a fill, an eviction) is `forget`-ten at once,
   * and a read older than `maxAgeMs` is renewed behind the next request, so the age only bounds how
   * late pull counts and other processes' changes (a `wharf gc`) show.
   */
  constructor(
    source: ImageSource,
    stores: { meta: MetadataStore; blobs: BlobStore; documents: SmallContent },
    options: { maxAgeMs?: number; clock?: Clock } = {},
  ) {
    this.#source = source;
    this.#meta = stores.meta;
    this.#blobs = stores.blobs;
    this.#documents = stores.documents;
    this.#maxAgeMs = options.maxAgeMs ?? 10_000;
    this.#clock = options.clock ?? systemClock;
  }

  /** What `repo` holds changed: its images are read again when next asked for. */
  forget(repo: string): void {
    this.#read.delete(repo);
    this.#generation.set(repo, (this.#generation.get(repo) ?? 0) + 1);
  }

  /** Every image of these repositories that `visible` admits, unsorted. */
  async images(
    repos: readonly string[],
    visible: (repo: string, name: string) => boolean,
  ): Promise<CatalogImage[]> {
    const all = await Promise.all(repos.map((repo) => this.#imagesOf(repo)));
    return all.flat().filter((image) => visible(image.repo, image.name));
  }

  async list(
    repos: readonly string[],
    visible: (repo: string, name: string) => boolean,
    filter: ImageFilter,
  ): Promise<{ images: ListedImage[]; total: number; platforms: string[] }> {
    const q = filter.q.trim().toLowerCase();
    let matching = (await this.images(repos, visible)).filter(
      (image) =>
        (q === "" ||
          image.name.toLowerCase().includes(q) ||
          image.tags.some((t) => t.tag.toLowerCase().includes(q))) &&
        (filter.tagged === undefined || filter.tagged === image.tags.length > 0),
    );
    if (filter.platform !== undefined) {
      const wanted = filter.platform;
      const platforms = await Promise.all(matching.map((image) => this.#platformsOf(image)));
      matching = matching.filter((_, i) => platforms[i]?.includes(wanted));
    }
    const direction = filter.order === "asc" ? 1 : -1;
    matching.sort((a, b) => {
      const x = sortValue(a, filter.sort);
      const y = sortValue(b, filter.sort);
      const primary = typeof x === "string" ? byText(x, String(y)) : x - (y as number);
      return (
        primary * direction || byText(a.name, b.name) || byText(a.repo, b.repo) || byText(a.digest, b.digest)
      );
    });
    const page = matching.slice(filter.offset, filter.offset + filter.limit);
    const images = await Promise.all(page.map((image) => this.#listed(image)));
    const platforms = [...new Set(images.flatMap((image) => image.platforms))].sort(byText);
    return { images, total: matching.length, platforms };
  }

  /** The image named by a tag or a root digest in the first of `repos` holding it. */
  async find(
    repos: readonly string[],
    visible: (repo: string, name: string) => boolean,
    name: string,
    reference: string,
  ): Promise<CatalogImage | undefined> {
    for (const repo of repos) {
      if (!visible(repo, name)) continue;
      const images = (await this.#imagesOf(repo)).filter((image) => image.name === name);
      const found = images.find((image) =>
        reference.includes(":") ? image.digest === reference : image.tags.some((t) => t.tag === reference),
      );
      if (found) return found;
    }
    return undefined;
  }

  /** Reads these repositories' images ahead of the first request (at start, in the background). */
  warm(repos: readonly string[]): Promise<void> {
    return Promise.all(repos.map((repo) => this.#reread(repo))).then(() => undefined);
  }

  /**
   * A repository's images as last read; one older than `maxAgeMs` is answered at once and read
   * again behind the answer, so no request waits for a read but the first after a change.
   */
  async #imagesOf(repo: string): Promise<CatalogImage[]> {
    const kept = this.#read.get(repo);
    if (!kept) return this.#reread(repo);
    if (this.#clock.now() - kept.at >= this.#maxAgeMs) void this.#reread(repo).catch(() => undefined);
    return kept.images;
  }

  #reread(repo: string): Promise<CatalogImage[]> {
    const generation = this.#generation.get(repo) ?? 0;
    return this.#loading.run(`${generation}\n${repo}`, async () => {
      const at = this.#clock.now();
      const images = await this.#source.images(repo);
      // A change told while this read ran may be missing from it: then it is not kept.
      if ((this.#generation.get(repo) ?? 0) === generation) this.#read.set(repo, { at, images });
      return images;
    });
  }

  async anatomy(image: CatalogImage): Promise<ImageAnatomy | undefined> {
    return anatomyOf(this.#content(image.repo, image.name), image.digest);
  }

  async #listed(image: CatalogImage): Promise<ListedImage> {
    const record = await this.#meta.getManifest(image.repo, image.name, image.digest);
    const mediaType = record?.mediaType ?? "";
    let kind: ImageKind = "image";
    try {
      const bytes = await this.#documents.read(image.digest);
      kind = kindOf(bytes, mediaType);
    } catch {
      // A manifest whose file went missing (verify will say so) still lists, as an image.
    }
    return { ...image, mediaType, kind, platforms: await this.#platformsOf(image) };
  }

  async #platformsOf(image: CatalogImage): Promise<readonly string[]> {
    const known = this.#platforms.get(image.digest);
    if (known) return known;
    let platforms: readonly string[] = [];
    try {
      platforms = await platformsOf(this.#content(image.repo, image.name), image.digest);
    } catch {
      // Unreadable content lists without platforms.
    }
    if (this.#platforms.size >= PLATFORMS_KEPT) this.#platforms.clear();
    this.#platforms.set(image.digest, platforms);
    return platforms;
  }

  /** What `repo` holds for `name` itself: its manifests and blob links, read from the store. */
  #content(repo: string, name: string): StoredContent {
    return {
      manifest: async (digest) => {
        const record = await this.#meta.getManifest(repo, name, digest);
        if (!record) return undefined;
        try {
          return { bytes: await this.#documents.read(digest), mediaType: record.mediaType };
        } catch {
          return undefined;
        }
      },
      document: async (digest) => {
        if (!(await this.#meta.hasBlob(repo, name, digest))) return undefined;
        const size = await this.#blobs.stat(digest);
        // Configs are small; anything else is not read into memory.
        if (size === undefined || size > 4 * 1024 * 1024) return undefined;
        return this.#documents.read(digest);
      },
      hasBlob: (digest) => this.#meta.hasBlob(repo, name, digest),
    };
  }
}

/**
 * The images a repository holds, as eviction sees them (`cachedImages`: a top-level manifest with
 * what it brings along), with their tags and use: the repository's content, read a slice of names
 * at a time (an image belongs to one name, so every slice is read whole).
 */
export class ContentImageSource implements ImageSource {
  readonly #meta: MetadataStore;

  constructor(meta: MetadataStore) {
    this.#meta = meta;
  }

  async images(repo: string): Promise<CatalogImage[]> {
    const images: CatalogImage[] = [];
    // One at a time: spread into push, a slice's hundreds of thousands of images overflow the stack.
    for await (const slice of contentSlices(this.#meta, repo))
      for (const image of imagesIn(repo, slice)) images.push(image);
    return images;
  }
}

/** The images of `content`, the whole of some names of `repo`. */
function imagesIn(repo: string, content: RepositoryContent): CatalogImage[] {
  const key = (name: string, digest: string) => `${name}@${digest}`;
  const manifests = new Map(content.manifests.map((m) => [key(m.name, m.digest), m]));
  const tagsOf = new Map<string, CatalogTag[]>();
  for (const t of content.tags) {
    const id = key(t.name, t.digest);
    tagsOf.set(id, [
      ...(tagsOf.get(id) ?? []),
      {
        tag: t.tag,
        updatedAt: t.updatedAt,
        pulls: t.pulls,
        ...(t.lastPulledAt === undefined ? {} : { lastPulledAt: t.lastPulledAt }),
      },
    ]);
  }
  return cachedImages(repo, content, []).flatMap((image): CatalogImage[] => {
    const root = manifests.get(key(image.name, image.digest));
    if (image.kind !== "image" || !root) return [];
    return [
      {
        repo,
        name: image.name,
        digest: image.digest,
        tags: (tagsOf.get(key(image.name, image.digest)) ?? []).sort((a, b) => byText(a.tag, b.tag)),
        size: image.size,
        createdAt: root.createdAt,
        pulls: root.pulls,
        ...(image.pulled ? { lastPulledAt: image.lastUsed } : {}),
      },
    ];
  });
}
