import { Readable } from "node:stream";
import type { RateLimitSnapshot } from "../../src/coordination/upstream-state.js";
import { digestOf } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { type RangeRequest, rangeHeader, resolveRange } from "../../src/oci/range.js";
import { UpstreamError, type UpstreamFailureKind } from "../../src/upstream/errors.js";
import type {
  FetchedBlob,
  FetchedManifest,
  FetchedRange,
  ManifestHead,
  TagPage,
  UpstreamRegistry,
  UpstreamSnapshot,
} from "../../src/upstream/registry.js";

/** What every request would meet, as the real client reports it. */
export type UpstreamFailure =
  | { readonly kind: "down" }
  | { readonly kind: "rate-limited"; readonly retryAfterSeconds: number }
  | { readonly kind: "unauthorized" };

/** How one blob's download goes wrong. */
export type BlobFault =
  /** Same length, one byte flipped: only the digest can tell. */
  | { readonly kind: "corrupt" }
  /** The connection drops after `after` bytes. */
  | { readonly kind: "cut"; readonly after: number };

export interface FakeRequest {
  readonly method: "GET" | "HEAD";
  /** As the upstream would see it: `/v2/<name>/manifests/<reference>`, `/v2/<name>/blobs/<digest>`… */
  readonly path: string;
  /** The `Range` of a ranged blob GET. */
  readonly range?: string;
}

/**
 * How the upstream answers ranged GETs: with the bytes asked (`serve`), with the whole blob as a
 * server ignoring Range does (`ignore`), or with the right length of wrong bytes (`lie`).
 */
export type RangeMode = "serve" | "ignore" | "lie";

export interface PushedImage {
  readonly name: string;
  readonly digest: string;
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly config: string;
  /** Layer digests, in order, and their bytes. */
  readonly layers: ReadonlyArray<{ readonly digest: string; readonly bytes: Buffer }>;
}

const CHUNK = 64 * 1024;
const key = (name: string, reference: string): string => `${name}\n${reference}`;

/**
 * An in-memory registry standing in for an upstream, for in-process tests of proxy repositories:
 * images you put in it, tags you move, failures you switch on (down, 429 with Retry-After, 401,
 * a blob cut mid-way or corrupted), and every request counted by method and path. Content is held
 * per image name, as a registry does, so "this name has it, that one does not" can be set up.
 */
export class FakeUpstream implements UpstreamRegistry {
  readonly url: string;
  readonly host: string;
  readonly requests: FakeRequest[] = [];
  readonly #blobs = new Map<string, Buffer>();
  readonly #manifests = new Map<string, { bytes: Buffer; mediaType: string }>();
  readonly #tags = new Map<string, string>();
  readonly #faults = new Map<string, BlobFault>();
  #failure: UpstreamFailure | undefined;
  #gate: Promise<void> | undefined;
  #rateLimit: RateLimitSnapshot = {};
  #ranges: RangeMode = "serve";

  constructor(url = "https://upstream.test") {
    this.url = url;
    this.host = new URL(url).host;
  }

  // ---- content ----

  putBlob(name: string, bytes: Buffer): string {
    const digest = digestOf(bytes);
    this.#blobs.set(key(name, digest), bytes);
    return digest;
  }

  /** Stores a manifest under `name` (bytes as given), tagged `tag` when one is named. */
  putManifest(name: string, bytes: Buffer, mediaType: string, tag?: string): string {
    const digest = digestOf(bytes);
    this.#manifests.set(key(name, digest), { bytes, mediaType });
    if (tag !== undefined) this.tag(name, tag, digest);
    return digest;
  }

  /** An OCI image of one config and the given layers, pushed under `name` (and tagged `tag`). */
  putImage(name: string, tag: string | undefined, layers: readonly string[]): PushedImage {
    const configBytes = Buffer.from(
      JSON.stringify({ architecture: "amd64", os: "linux", layers: layers.length }),
    );
    const config = this.putBlob(name, configBytes);
    const pushed = layers.map((text) => {
      const bytes = Buffer.from(text);
      return { digest: this.putBlob(name, bytes), bytes };
    });
    const descriptor = (mediaType: string, digest: string, size: number) => ({ mediaType, digest, size });
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: descriptor("application/vnd.oci.image.config.v1+json", config, configBytes.byteLength),
        layers: pushed.map((layer) =>
          descriptor("application/vnd.oci.image.layer.v1.tar", layer.digest, layer.bytes.byteLength),
        ),
      }),
    );
    const digest = this.putManifest(name, bytes, MediaType.ociManifest, tag);
    return { name, digest, bytes, mediaType: MediaType.ociManifest, config, layers: pushed };
  }

  /** An OCI index of images already pushed under `name`, one per platform. */
  putIndex(name: string, tag: string | undefined, images: readonly PushedImage[]): PushedImage {
    const platforms = ["amd64", "arm64", "s390x", "ppc64le"];
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: images.map((image, index) => ({
          mediaType: image.mediaType,
          digest: image.digest,
          size: image.bytes.byteLength,
          platform: { architecture: platforms[index % platforms.length], os: "linux" },
        })),
      }),
    );
    const digest = this.putManifest(name, bytes, MediaType.ociIndex, tag);
    return { name, digest, bytes, mediaType: MediaType.ociIndex, config: "", layers: [] };
  }

  tag(name: string, tag: string, digest: string): void {
    this.#tags.set(key(name, tag), digest);
  }

  untag(name: string, tag: string): void {
    this.#tags.delete(key(name, tag));
  }

  // ---- faults ----

  /** What the upstream last reported of its pull budget, as the real client's snapshot shows it. */
  reportBudget(rateLimit: RateLimitSnapshot): void {
    this.#rateLimit = rateLimit;
  }

  /** Every request meets `failure` from now on; undefined ends it. */
  fail(failure: UpstreamFailure | undefined): void {
    this.#failure = failure;
  }

  /** How ranged GETs are answered from now on. */
  answerRanges(mode: RangeMode): void {
    this.#ranges = mode;
  }

  faultBlob(digest: string, fault: BlobFault | undefined): void {
    if (fault) this.#faults.set(digest, fault);
    else this.#faults.delete(digest);
  }

  /**
   * Holds every blob body from now on until the returned function is called: downloads are
   * opened (their headers "arrived") but no byte flows, so concurrent callers can all join one.
   */
  holdBlobs(): () => void {
    let release = () => {};
    this.#gate = new Promise((resolve) => {
      release = () => {
        this.#gate = undefined;
        resolve();
      };
    });
    return release;
  }

  // ---- counting ----

  /** Requests seen with `method` whose path matches `path` (a substring or a pattern); ranged GETs apart. */
  count(method: "GET" | "HEAD", path: string | RegExp = ""): number {
    const matches = (p: string) => (typeof path === "string" ? p.includes(path) : path.test(p));
    return this.requests.filter((r) => r.method === method && r.range === undefined && matches(r.path))
      .length;
  }

  /** Ranged blob GETs seen for `digest`. */
  countRanged(digest: string): number {
    return this.requests.filter((r) => r.range !== undefined && r.path.endsWith(`/blobs/${digest}`)).length;
  }

  // ---- the registry's read side ----

  async headManifest(name: string, reference: string, _accept: readonly string[]): Promise<ManifestHead> {
    const { digest, mediaType, bytes } = this.#manifest("HEAD", name, reference);
    return { digest, mediaType, size: bytes.byteLength };
  }

  async getManifest(name: string, reference: string, _accept: readonly string[]): Promise<FetchedManifest> {
    const { digest, mediaType, bytes } = this.#manifest("GET", name, reference);
    return { digest, mediaType, size: bytes.byteLength, bytes };
  }

  async headBlob(name: string, digest: string): Promise<{ size: number | undefined }> {
    return { size: this.#blob("HEAD", name, digest).byteLength };
  }

  async getBlob(name: string, digest: string): Promise<FetchedBlob> {
    const bytes = this.#blob("GET", name, digest);
    const fault = this.#faults.get(digest);
    const gate = this.#gate;
    const sent = fault?.kind === "corrupt" ? corrupted(bytes) : bytes;
    const end = fault?.kind === "cut" ? fault.after : sent.byteLength;
    async function* body(): AsyncGenerator<Buffer> {
      await gate;
      for (let offset = 0; offset < end; offset += CHUNK)
        yield sent.subarray(offset, Math.min(end, offset + CHUNK));
      if (fault?.kind === "cut") throw new Error("other side closed");
    }
    return { size: bytes.byteLength, body: Readable.from(body(), { objectMode: false }) };
  }

  async getBlobRange(name: string, digest: string, range: RangeRequest): Promise<FetchedRange | undefined> {
    const bytes = this.#blob("GET", name, digest, rangeHeader(range) ?? "");
    const resolved = resolveRange(range, bytes.byteLength);
    if (this.#ranges === "ignore" || resolved === "unsatisfiable") return undefined;
    const part = bytes.subarray(resolved.start, resolved.end + 1);
    const sent = this.#ranges === "lie" ? corrupted(part) : part;
    return { range: resolved, size: bytes.byteLength, body: Readable.from([sent]) };
  }

  async listTags(name: string): Promise<TagPage> {
    this.#request("GET", `/v2/${name}/tags/list`);
    const prefix = key(name, "");
    const tags = [...this.#tags.keys()]
      .filter((k) => k.startsWith(prefix))
      .map((k) => k.slice(prefix.length));
    if (tags.length === 0) throw this.#error("not-found", "GET", `/v2/${name}/tags/list`, 404);
    // Like registry:v2, in no particular order and ignoring `n` and `last`.
    return { tags: tags.reverse(), hasMore: false };
  }

  async referrers(name: string, digest: string): Promise<Buffer | undefined> {
    this.#request("GET", `/v2/${name}/referrers/${digest}`);
    return undefined;
  }

  async snapshot(): Promise<UpstreamSnapshot> {
    return { rateLimit: { ...this.#rateLimit }, tokenRequests: 0 };
  }

  // ---- internals ----

  #manifest(method: "GET" | "HEAD", name: string, reference: string) {
    const path = `/v2/${name}/manifests/${reference}`;
    this.#request(method, path);
    const digest = reference.includes(":") ? reference : this.#tags.get(key(name, reference));
    const stored = digest === undefined ? undefined : this.#manifests.get(key(name, digest));
    if (digest === undefined || !stored) throw this.#error("not-found", method, path, 404);
    return { digest, ...stored };
  }

  #blob(method: "GET" | "HEAD", name: string, digest: string, range?: string): Buffer {
    const path = `/v2/${name}/blobs/${digest}`;
    this.#request(method, path, range);
    const bytes = this.#blobs.get(key(name, digest));
    if (!bytes) throw this.#error("not-found", method, path, 404);
    return bytes;
  }

  /** Counts the request, then lets the failure switched on, if any, answer it. */
  #request(method: "GET" | "HEAD", path: string, range?: string): void {
    this.requests.push({ method, path, ...(range === undefined ? {} : { range }) });
    const failure = this.#failure;
    if (failure?.kind === "down") {
      throw new UpstreamError("unavailable", `${method} ${this.host}${path}: connect ECONNREFUSED`, {
        upstream: "fake",
      });
    }
    if (failure?.kind === "rate-limited") {
      throw new UpstreamError("rate-limited", `${method} ${path} answered 429`, {
        upstream: "fake",
        status: 429,
        retryAfterSeconds: failure.retryAfterSeconds,
      });
    }
    if (failure?.kind === "unauthorized") throw this.#error("unauthorized", method, path, 401);
  }

  #error(kind: UpstreamFailureKind, method: string, path: string, status: number): UpstreamError {
    return new UpstreamError(kind, `${method} ${path} answered ${status}`, { upstream: "fake", status });
  }
}

function corrupted(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  copy[0] = (copy[0] ?? 0) ^ 0xff;
  return copy;
}
