import { AssertionError } from "node:assert";
import crypto from "node:crypto";
import zlib from "node:zlib";
import { tar } from "../harness/images/tarball.js";
import type { ConformanceResponse, ExchangeOptions } from "./client.js";
import {
  type Algorithm,
  type Descriptor,
  digestOf,
  goJson,
  indexJson,
  MEDIA_TYPE,
  manifestJson,
  type Platform,
} from "./fixtures.js";
import type { LegacyRun } from "./legacy.js";
import type { SpecTree } from "./specs.js";

// Content kinds the v1.1.x suite never pushes, taken from the redesigned suite on the spec's main
// branch (conformance/run.go, api.go, testdata.go): sha512 blobs and manifests, the empty blob,
// descriptors with `data`, an index of indexes, a manifest near the 4 MiB limit, and range
// requests on blobs. Each data set goes through the redesign's push, tag list, head, pull and
// delete steps with the checks of its api.go; each step is one spec that lists every problem.

/** config.go's chunkMin: the smallest chunk the redesigned suite sends. */
const CHUNK_MIN = 1024;
const OCTET_STREAM = "application/octet-stream";
const ACCEPT_MANIFESTS = [MEDIA_TYPE.index, MEDIA_TYPE.manifest];
const LINUX_AMD64: Platform = { os: "linux", architecture: "amd64" };
const LINUX_ARM64: Platform = { os: "linux", architecture: "arm64" };

interface GenOptions {
  readonly algo?: Algorithm;
  readonly tag?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  /** genWithDescriptorData: every descriptor carries its content in `data`. */
  readonly setData?: boolean;
  readonly layerCount?: number;
  readonly platform?: Platform;
  readonly platforms?: readonly Platform[];
}

/** testdata.go's testData: what one data set pushes, and in which order. */
class TestData {
  readonly title: string;
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, Buffer>();
  /** Manifests in push order: children before the indexes that list them. */
  readonly manOrder: string[] = [];
  readonly tags = new Map<string, string>();
  readonly tagPushed = new Set<string>();
  readonly desc = new Map<string, Descriptor>();

  constructor(title: string) {
    this.title = title;
  }

  addBlob(bytes: Buffer, mediaType: string, opts: GenOptions = {}): string {
    const digest = digestOf(bytes, opts.algo);
    this.blobs.set(digest, bytes);
    this.desc.set(digest, {
      mediaType,
      digest,
      size: bytes.length,
      ...(opts.setData ? { data: bytes } : {}),
    });
    return digest;
  }

  genBlob(size: number, opts: GenOptions = {}): { digest: string; bytes: Buffer } {
    const bytes = crypto.randomBytes(size);
    return { digest: this.addBlob(bytes, OCTET_STREAM, opts), bytes };
  }

  /** A gzip'ed tar with one small file; returns the compressed digest and the diff_id. */
  genLayer(fileNum: number, opts: GenOptions): { digest: string; diffId: string } {
    const lucky = crypto.randomInt(2 ** 47);
    const file = `Conformance test file contents for file number ${fileNum}.\nTodays lucky number is ${lucky}\n`;
    const uncompressed = tar([
      { name: `./conformance-${fileNum}.txt`, data: Buffer.from(file), mode: 0o644 },
    ]);
    const digest = this.addBlob(zlib.gzipSync(uncompressed), MEDIA_TYPE.layerGzip, opts);
    return { digest, diffId: digestOf(uncompressed, opts.algo) };
  }

  /** image-spec's Image, json.Marshal'ed: author, platform fields inline, empty config, rootfs. */
  genConfig(platform: Platform, diffIds: readonly string[], opts: GenOptions): string {
    const config = goJson(
      {
        author: "OCI Conformance Test",
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        config: {},
        rootfs: { type: "layers", diff_ids: diffIds },
      },
      "",
    );
    return this.addBlob(config, MEDIA_TYPE.config, opts);
  }

  #addManifest(bytes: Buffer, mediaType: string, opts: GenOptions): string {
    const digest = digestOf(bytes, opts.algo);
    this.manifests.set(digest, bytes);
    this.manOrder.push(digest);
    this.desc.set(digest, {
      mediaType,
      digest,
      size: bytes.length,
      ...(opts.setData ? { data: bytes } : {}),
    });
    if (opts.tag !== undefined) this.tags.set(opts.tag, digest);
    return digest;
  }

  genManifest(config: Descriptor, layers: readonly Descriptor[], opts: GenOptions): string {
    const body = manifestJson(
      {
        mediaType: MEDIA_TYPE.manifest,
        config,
        layers,
        ...(opts.annotations ? { annotations: opts.annotations } : {}),
      },
      "image-spec",
    );
    return this.#addManifest(goJson(body, ""), MEDIA_TYPE.manifest, opts);
  }

  /** genManifestFull: layers, a config for them, the manifest. */
  genManifestFull(opts: GenOptions): string {
    const layers = Array.from({ length: opts.layerCount ?? 2 }, (_, fileNum) => this.genLayer(fileNum, opts));
    const configDigest = this.genConfig(
      opts.platform ?? LINUX_AMD64,
      layers.map((layer) => layer.diffId),
      opts,
    );
    return this.genManifest(
      this.#descriptor(configDigest),
      layers.map((layer) => this.#descriptor(layer.digest)),
      opts,
    );
  }

  genIndex(
    platforms: ReadonlyArray<Platform | undefined>,
    manifests: readonly string[],
    opts: GenOptions,
  ): string {
    const body = indexJson(
      {
        mediaType: MEDIA_TYPE.index,
        manifests: manifests.map((digest, i) => {
          const platform = platforms[i];
          return { ...this.#descriptor(digest), ...(platform ? { platform } : {}) };
        }),
        ...(opts.annotations ? { annotations: opts.annotations } : {}),
      },
      "image-spec",
    );
    return this.#addManifest(goJson(body, ""), MEDIA_TYPE.index, opts);
  }

  /** genIndexFull: an image per platform (given the same options, as in Go), then the index. */
  genIndexFull(opts: GenOptions): string {
    const platforms = opts.platforms ?? [LINUX_AMD64, LINUX_ARM64];
    const images = platforms.map((platform) => this.genManifestFull({ ...opts, platform }));
    return this.genIndex(platforms, images, opts);
  }

  #descriptor(digest: string): Descriptor {
    const descriptor = this.desc.get(digest);
    if (!descriptor) throw new Error(`no descriptor for ${digest}`);
    return descriptor;
  }
}

/** The problems one spec found; the spec fails with all of them listed. */
class Checks {
  readonly #problems: string[] = [];

  check(condition: boolean, message: string, response?: ConformanceResponse): boolean {
    if (!condition) this.#problems.push(response ? `${message}\n    ${response.describe()}` : message);
    return condition;
  }

  status(response: ConformanceResponse, ...accepted: number[]): boolean {
    return this.check(
      accepted.includes(response.status),
      `status: expected ${accepted.join(" or ")}, got ${response.status}`,
      response,
    );
  }

  header(response: ConformanceResponse, name: string, expected: string): boolean {
    const actual = response.header(name);
    return this.check(
      actual === expected,
      `${name}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
      response,
    );
  }

  body(response: ConformanceResponse, expected: Buffer): boolean {
    return this.check(
      response.body.equals(expected),
      `body: expected ${expected.length} bytes (${digestOf(expected)}), got ${response.body.length} bytes (${digestOf(response.body)})`,
      response,
    );
  }

  /** api.go's VerifyDigest: a Docker-Content-Digest, when sent, names the expected digest. */
  digestHeader(response: ConformanceResponse, digest: string): boolean {
    const header = response.header("Docker-Content-Digest");
    return header === "" || this.header(response, "Docker-Content-Digest", digest);
  }

  finish(): void {
    if (this.#problems.length > 0) {
      throw new AssertionError({
        message: `${this.#problems.length} problem(s):\n  ${this.#problems.join("\n  ")}`,
      });
    }
  }
}

interface Send {
  readonly query?: Readonly<Record<string, string>>;
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  readonly body?: Buffer;
  readonly exchange?: ExchangeOptions;
}

/** api.go's requests on top of the port's client; explicit Content-Length unless streaming. */
class Api {
  readonly #run: LegacyRun;

  constructor(run: LegacyRun) {
    this.#run = run;
  }

  send(method: string, path: string, send: Send = {}): Promise<ConformanceResponse> {
    const client = this.#run.client();
    const req = client.newRequest(method, path);
    for (const [name, value] of Object.entries(send.query ?? {})) req.setQueryParam(name, value);
    for (const [name, value] of send.headers ?? []) req.addHeader(name, value);
    if (send.body !== undefined) req.setBody(send.body);
    return client.do(req, { framing: "content-length", ...send.exchange });
  }

  /** api.go resolves each Location against the last URL; the port's client takes paths. */
  static path(location: string): string {
    const url = new URL(location, "http://relative.invalid");
    return url.pathname + url.search;
  }

  async blobPostPut(c: Checks, repo: string, digest: string, bytes: Buffer): Promise<boolean> {
    const post = await this.send("POST", `/v2/${repo}/blobs/uploads/`);
    if (!c.status(post, 202) || !c.check(post.header("Location") !== "", "POST: no Location", post))
      return false;
    const put = await this.send("PUT", Api.path(post.header("Location")), {
      query: { digest },
      headers: [["Content-Type", OCTET_STREAM]],
      body: bytes,
    });
    return c.status(put, 201) && this.#verifyBlobCreated(c, put, digest, bytes);
  }

  async blobPostOnly(c: Checks, repo: string, digest: string, bytes: Buffer): Promise<boolean> {
    const post = await this.send("POST", `/v2/${repo}/blobs/uploads/`, {
      query: { digest },
      headers: [["Content-Type", OCTET_STREAM]],
      body: bytes,
    });
    if (!c.status(post, 201, 202) || !c.check(post.header("Location") !== "", "POST: no Location", post))
      return false;
    if (post.status === 202) {
      // the redesign falls back to a PUT but counts the single-POST upload as unsupported
      c.check(false, "registry does not support content in the POST, fallback to PUT", post);
      const put = await this.send("PUT", Api.path(post.header("Location")), {
        query: { digest },
        headers: [["Content-Type", OCTET_STREAM]],
        body: bytes,
      });
      c.status(put, 201);
      return false;
    }
    return this.#verifyBlobCreated(c, post, digest, bytes);
  }

  async blobPatchStream(c: Checks, repo: string, digest: string, bytes: Buffer): Promise<boolean> {
    const post = await this.send("POST", `/v2/${repo}/blobs/uploads/`, { exchange: { contentLength: 0 } });
    if (!c.status(post, 202) || !c.check(post.header("Location") !== "", "POST: no Location", post))
      return false;
    // a stream has no length up front: chunked, like reggie's bodies
    const patch = await this.send("PATCH", Api.path(post.header("Location")), {
      headers: [["Content-Type", OCTET_STREAM]],
      body: bytes,
      exchange: { framing: "reggie" },
    });
    if (!c.status(patch, 202) || !c.check(patch.header("Location") !== "", "PATCH: no Location", patch))
      return false;
    const put = await this.send("PUT", Api.path(patch.header("Location")), {
      query: { digest },
      headers: [["Content-Type", OCTET_STREAM]],
      exchange: { contentLength: 0 },
    });
    return c.status(put, 201) && this.#verifyBlobCreated(c, put, digest, bytes);
  }

  async blobPatchChunked(
    c: Checks,
    repo: string,
    digest: string,
    bytes: Buffer,
    putLastChunk = false,
  ): Promise<boolean> {
    const post = await this.send("POST", `/v2/${repo}/blobs/uploads/`, { exchange: { contentLength: 0 } });
    if (!c.status(post, 202)) return false;
    let location = post.header("Location");
    let chunkSize = Math.floor(bytes.length / 3) + 1;
    const min = Number.parseInt(post.header("OCI-Chunk-Min-Length"), 10);
    if (Number.isInteger(min) && min > chunkSize) chunkSize = min;
    chunkSize = Math.min(Math.max(chunkSize, CHUNK_MIN), bytes.length);
    let lastByte = -1;
    let closing: ConformanceResponse | undefined;
    while (lastByte < bytes.length - 1) {
      if (!c.check(location !== "", "chunked upload: no Location")) return false;
      const start = lastByte + 1;
      lastByte = Math.min(start + chunkSize - 1, bytes.length - 1);
      const final = putLastChunk && lastByte === bytes.length - 1;
      const resp = await this.send(final ? "PUT" : "PATCH", Api.path(location), {
        ...(final ? { query: { digest } } : {}),
        headers: [
          ["Content-Type", OCTET_STREAM],
          ["Content-Range", `${start}-${lastByte}`],
        ],
        body: bytes.subarray(start, lastByte + 1),
      });
      if (!c.status(resp, final ? 201 : 202)) return false;
      location = resp.header("Location");
      if (final) closing = resp;
    }
    if (!closing) {
      if (!c.check(location !== "", "chunked upload: no Location")) return false;
      closing = await this.send("PUT", Api.path(location), {
        query: { digest },
        headers: [["Content-Type", OCTET_STREAM]],
        exchange: { contentLength: 0 },
      });
      if (!c.status(closing, 201)) return false;
    }
    return this.#verifyBlobCreated(c, closing, digest, bytes);
  }

  /** VerifyDigest and BlobVerifyLocation: the Location serves the bytes just pushed. */
  async #verifyBlobCreated(
    c: Checks,
    resp: ConformanceResponse,
    digest: string,
    bytes: Buffer,
  ): Promise<boolean> {
    if (!c.digestHeader(resp, digest)) return false;
    if (!c.check(resp.header("Location") !== "", "location header missing", resp)) return false;
    const get = await this.send("GET", Api.path(resp.header("Location")));
    return c.status(get, 200) && c.body(get, bytes);
  }

  /** TestPushBlobAny: the first upload method that works; every failed attempt is a problem. */
  async pushBlobAny(c: Checks, repo: string, digest: string, bytes: Buffer): Promise<void> {
    const methods = [
      () => this.blobPostPut(c, repo, digest, bytes),
      () => this.blobPostOnly(c, repo, digest, bytes),
      () => this.blobPatchStream(c, repo, digest, bytes),
      () => this.blobPatchChunked(c, repo, digest, bytes),
    ];
    for (const method of methods) if (await method()) return;
  }

  /** BlobHeadExists; a length is expected when the content is known (the empty blob only for sha256). */
  async blobHead(c: Checks, repo: string, digest: string, bytes: Buffer | undefined): Promise<void> {
    const resp = await this.send("HEAD", `/v2/${repo}/blobs/${digest}`);
    if (!c.status(resp, 200)) return;
    c.check(resp.body.length === 0, "HEAD returned a body", resp);
    if (bytes && (bytes.length > 0 || digest === digestOf(""))) {
      c.header(resp, "Content-Length", String(bytes.length));
    }
    c.digestHeader(resp, digest);
  }

  /** BlobGetExistsFull. */
  async blobGet(c: Checks, repo: string, digest: string, bytes: Buffer | undefined): Promise<void> {
    const resp = await this.send("GET", `/v2/${repo}/blobs/${digest}`);
    if (!c.status(resp, 200)) return;
    if (bytes && (bytes.length > 0 || digest === digestOf(""))) {
      c.body(resp, bytes);
      c.header(resp, "Content-Length", String(bytes.length));
    }
    c.digestHeader(resp, digest);
  }

  /** BlobDelete, then the atomic check: the blob is gone at once. */
  async blobDelete(c: Checks, repo: string, digest: string): Promise<void> {
    const resp = await this.send("DELETE", `/v2/${repo}/blobs/${digest}`);
    if (!c.status(resp, 202, 404, 405)) return;
    if (!c.check(resp.status !== 405, "blob delete: registry returned status 405", resp)) return;
    c.status(await this.send("HEAD", `/v2/${repo}/blobs/${digest}`), 404);
  }

  /** ManifestPut, then the Location it returned serves the same bytes and media type. */
  async manifestPut(
    c: Checks,
    repo: string,
    reference: string,
    digest: string,
    bytes: Buffer,
  ): Promise<void> {
    const mediaType = detectMediaType(bytes);
    const resp = await this.send("PUT", `/v2/${repo}/manifests/${reference}`, {
      headers: [["Content-Type", mediaType]],
      body: bytes,
    });
    if (!c.status(resp, 201)) return;
    c.digestHeader(resp, digest);
    if (!c.check(resp.header("Location") !== "", "manifest put did not return a location", resp)) return;
    const get = await this.send("GET", Api.path(resp.header("Location")), { headers: acceptManifests() });
    if (!c.status(get, 200)) return;
    c.header(get, "Content-Type", mediaType);
    c.header(get, "Content-Length", String(bytes.length));
    c.body(get, bytes);
  }

  /** ManifestGetExists or ManifestHeadExists. */
  async manifestFetch(
    c: Checks,
    method: "GET" | "HEAD",
    repo: string,
    reference: string,
    digest: string,
    bytes: Buffer,
  ): Promise<void> {
    const resp = await this.send(method, `/v2/${repo}/manifests/${reference}`, {
      headers: acceptManifests(),
    });
    if (!c.status(resp, 200)) return;
    if (method === "GET") c.body(resp, bytes);
    else c.check(resp.body.length === 0, "HEAD returned a body", resp);
    c.header(resp, "Content-Type", detectMediaType(bytes));
    c.header(resp, "Content-Length", String(bytes.length));
    c.digestHeader(resp, digest);
  }

  /** ManifestDelete (by tag or digest), then the atomic check: HEAD answers 404 at once. */
  async manifestDelete(c: Checks, repo: string, reference: string): Promise<void> {
    const resp = await this.send("DELETE", `/v2/${repo}/manifests/${reference}`);
    if (!c.status(resp, 202, 404, 400, 405)) return;
    if (
      !c.check(
        resp.status !== 400 && resp.status !== 405,
        `manifest delete: registry returned ${resp.status}`,
        resp,
      )
    ) {
      return;
    }
    c.status(
      await this.send("HEAD", `/v2/${repo}/manifests/${reference}`, { headers: acceptManifests() }),
      404,
    );
  }

  /** TagList: 200 with a tag list, or 404 (an empty list). */
  async tagList(c: Checks, repo: string, last?: string): Promise<string[]> {
    const resp = await this.send(
      "GET",
      `/v2/${repo}/tags/list`,
      last === undefined ? {} : { query: { last } },
    );
    if (!c.status(resp, 200, 404) || resp.status === 404) return [];
    try {
      const parsed = JSON.parse(resp.body.toString("utf8")) as { tags?: unknown };
      return Array.isArray(parsed.tags) ? parsed.tags.map(String) : [];
    } catch {
      c.check(false, "tag list is not JSON", resp);
      return [];
    }
  }
}

function acceptManifests(): Array<[string, string]> {
  return ACCEPT_MANIFESTS.map((type) => ["Accept", type]);
}

/** The redesign's detectMediaType: the document's own mediaType field. */
function detectMediaType(bytes: Buffer): string {
  const parsed = JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown };
  return typeof parsed.mediaType === "string" ? parsed.mediaType : "";
}

/** A spec whose checks are collected and reported together. */
function checked(tree: SpecTree, title: string, body: (c: Checks) => Promise<void>): void {
  tree.specify(title, async () => {
    const c = new Checks();
    await body(c);
    c.finish();
  });
}

/** run.go's TestBlobAPIs, minus mounts, cancels and bad digests: each upload method, then HEAD, GET, DELETE. */
function blobApis(tree: SpecTree, api: Api, repo: () => string, algo: Algorithm): void {
  const td = new TestData(`Blobs ${algo}`);
  type Push = (c: Checks, digest: string, bytes: Buffer) => Promise<boolean>;
  const methods: ReadonlyArray<readonly [string, number, Push]> = [
    ["post only", 512, (c, d, b) => api.blobPostOnly(c, repo(), d, b)],
    ["post+put", 512, (c, d, b) => api.blobPostPut(c, repo(), d, b)],
    ["chunked single", 512, (c, d, b) => api.blobPatchChunked(c, repo(), d, b)],
    ["chunked multi", CHUNK_MIN * 3 - 5, (c, d, b) => api.blobPatchChunked(c, repo(), d, b)],
    [
      "chunked multi and put chunk",
      CHUNK_MIN * 3 - 5,
      (c, d, b) => api.blobPatchChunked(c, repo(), d, b, true),
    ],
    ["stream", 512, (c, d, b) => api.blobPatchStream(c, repo(), d, b)],
  ];
  const roundTrip = async (c: Checks, digest: string, bytes: Buffer, push: Push) => {
    if (await push(c, digest, bytes)) {
      await api.blobHead(c, repo(), digest, bytes);
      await api.blobGet(c, repo(), digest, bytes);
    }
    await api.blobDelete(c, repo(), digest);
  };
  tree.context(`${algo} blobs`, (blobs) => {
    for (const [name, size, push] of methods) {
      checked(blobs, `${name}: push, head, get, delete`, async (c) => {
        const { digest, bytes } = td.genBlob(size, { algo });
        await roundTrip(c, digest, bytes, push);
      });
    }
    for (const [name, bytes] of [
      ["empty", Buffer.alloc(0)],
      ["emptyJSON", Buffer.from("{}")],
    ] as const) {
      checked(blobs, `${name} blob: push, head, get, delete`, async (c) => {
        const digest = td.addBlob(bytes, OCTET_STREAM, { algo });
        await roundTrip(c, digest, bytes, async (checks, d, b) => {
          await api.pushBlobAny(checks, repo(), d, b);
          return true;
        });
      });
    }
    rangeRequests(blobs, api, repo, td, algo);
  });
}

/** run.go's "range requests": six Range headers on a 2048-byte blob; a full 200 is a failure. */
function rangeRequests(tree: SpecTree, api: Api, repo: () => string, td: TestData, algo: Algorithm): void {
  const size = 2048;
  let blob: { digest: string; bytes: Buffer } | undefined;
  const cases: ReadonlyArray<readonly [string, { start: number; end: number } | "unsatisfiable"]> = [
    ["bytes=500-1499", { start: 500, end: 1499 }],
    ["bytes=500-", { start: 500, end: size - 1 }],
    ["bytes=-500", { start: size - 500, end: size - 1 }],
    ["bytes=2000-5000", { start: 2000, end: size - 1 }],
    ["bytes=500-0", "unsatisfiable"],
    ["bytes=5000-10000", "unsatisfiable"],
  ];
  tree.context("range requests", (ranges) => {
    checked(ranges, "setup: push a 2048-byte blob", async (c) => {
      blob = td.genBlob(size, { algo });
      await api.pushBlobAny(c, repo(), blob.digest, blob.bytes);
    });
    for (const [range, expected] of cases) {
      checked(ranges, `Range: ${range}`, async (c) => {
        const { digest, bytes } = blob ?? td.genBlob(size, { algo });
        const resp = await api.send("GET", `/v2/${repo()}/blobs/${digest}`, { headers: [["Range", range]] });
        if (resp.status === 200 && resp.body.equals(bytes)) {
          c.check(false, "range request unsupported, full blob returned", resp);
          return;
        }
        if (expected === "unsatisfiable") {
          c.status(resp, 416);
          return;
        }
        if (!c.status(resp, 206)) return;
        c.body(resp, bytes.subarray(expected.start, expected.end + 1));
        c.header(resp, "Content-Length", String(expected.end - expected.start + 1));
        const contentRange = resp.header("Content-Range");
        c.check(
          contentRange === `bytes ${expected.start}-${expected.end}/${size}` ||
            contentRange === `bytes ${expected.start}-${expected.end}/*`,
          `Content-Range: expected "bytes ${expected.start}-${expected.end}/${size}", got ${JSON.stringify(contentRange)}`,
          resp,
        );
      });
    }
    checked(ranges, "teardown: delete the blob", async (c) => {
      if (blob) await api.blobDelete(c, repo(), blob.digest);
    });
  });
}

/** run.go's loop over data sets: push, tag list, head, pull, delete. */
function dataSet(tree: SpecTree, api: Api, repo: () => string, td: TestData): void {
  tree.context(td.title, (steps) => {
    checked(steps, "push: blobs, manifests by digest, then tags", async (c) => {
      for (const [digest, bytes] of td.blobs) await api.pushBlobAny(c, repo(), digest, bytes);
      for (const digest of td.manOrder) {
        await api.manifestPut(c, repo(), digest, digest, td.manifests.get(digest) as Buffer);
      }
      for (const [tag, digest] of td.tags) {
        await api.manifestPut(c, repo(), tag, digest, td.manifests.get(digest) as Buffer);
        td.tagPushed.add(tag);
      }
    });
    checked(steps, "tag-list: every tag listed, `last` pages after it", async (c) => {
      const tags = await api.tagList(c, repo());
      for (const tag of td.tags.keys())
        c.check(tags.includes(tag), `missing tag ${JSON.stringify(tag)} from listing`);
      if (tags.length >= 2) {
        const sorted = [...tags].sort();
        const end = Math.floor(sorted.length / 2);
        const last = sorted[end - 1] as string;
        const partial = await api.tagList(c, repo(), last);
        for (const tag of sorted.slice(0, end)) {
          c.check(
            !partial.includes(tag),
            `tag ${JSON.stringify(tag)} returned when last set to ${JSON.stringify(last)}`,
          );
        }
        for (const tag of sorted.slice(end)) {
          c.check(
            partial.includes(tag),
            `tag ${JSON.stringify(tag)} missing when last set to ${JSON.stringify(last)}`,
          );
        }
      }
    });
    for (const method of ["HEAD", "GET"] as const) {
      checked(
        steps,
        `${method === "HEAD" ? "head" : "pull"}: manifests by tag and digest, blobs`,
        async (c) => {
          for (const [tag, digest] of td.tags) {
            await api.manifestFetch(c, method, repo(), tag, digest, td.manifests.get(digest) as Buffer);
          }
          for (const digest of td.manOrder) {
            await api.manifestFetch(c, method, repo(), digest, digest, td.manifests.get(digest) as Buffer);
          }
          for (const [digest, bytes] of td.blobs) {
            if (method === "HEAD") await api.blobHead(c, repo(), digest, bytes);
            else await api.blobGet(c, repo(), digest, bytes);
          }
        },
      );
    }
    checked(steps, "delete: tags, manifests (indexes first), blobs, each gone at once", async (c) => {
      for (const tag of td.tags.keys()) if (td.tagPushed.has(tag)) await api.manifestDelete(c, repo(), tag);
      for (const digest of [...td.manOrder].reverse()) await api.manifestDelete(c, repo(), digest);
      for (const digest of td.blobs.keys()) await api.blobDelete(c, repo(), digest);
    });
  });
}

/** The extra content kinds, against the suite's OCI_NAMESPACE. */
export function redesignedContent(tree: SpecTree, run: LegacyRun): void {
  const api = new Api(run);
  const repo = () => run.suite.namespace;
  blobApis(tree, api, repo, "sha256");
  blobApis(tree, api, repo, "sha512");

  const dataField = new TestData("Data Field");
  dataField.genManifestFull({ tag: "data-field", setData: true });
  const nested = new TestData("Nested Index");
  const inner = [nested.genIndexFull({}), nested.genIndexFull({})];
  nested.genIndex([undefined, undefined], inner, { tag: "index-of-index" });
  const large = new TestData("Image with Large Manifest");
  const annotations: Record<string, string> = {};
  for (let i = 0; i < 390; i++) annotations[`large-annotation-${i}`] = "A".repeat(10_000);
  large.genManifestFull({ tag: "large-manifest", annotations });
  // non-canonical digests need the tag parameter to be tagged, so the redesign pushes these by digest only
  const sha512 = new TestData("Digest Algorithm sha512");
  sha512.genIndexFull({ algo: "sha512" });
  for (const td of [dataField, nested, large, sha512]) dataSet(tree, api, repo, td);
}
