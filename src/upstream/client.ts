import { type Dispatcher, request } from "undici";
import type { TokenCache } from "../coordination/token-cache.js";
import type { RateLimitSnapshot, UpstreamState } from "../coordination/upstream-state.js";
import { digestOf, tryParseDigest } from "../oci/digest.js";
import { MAX_MANIFEST_BYTES } from "../oci/manifest.js";
import { baseMediaType } from "../oci/media-types.js";
import { parseAnsweredRange, type RangeRequest, rangeHeader } from "../oci/range.js";
import { readCapped } from "../util/read-capped.js";
import { UpstreamAuth, type UpstreamCredentials } from "./auth.js";
import { failureKindOf, parseRetryAfter, UpstreamError } from "./errors.js";
import { pullBudgetOf } from "./rate-limit.js";
import type {
  FetchedBlob,
  FetchedManifest,
  FetchedRange,
  ManifestHead,
  TagPage,
  UpstreamRegistry,
  UpstreamSnapshot,
} from "./registry.js";

export interface UpstreamTimeouts {
  /** Until response headers arrive. */
  readonly headersMs: number;
  /** Longest silence allowed between two chunks of a body. */
  readonly bodyMs: number;
}

export interface UpstreamClientOptions {
  /** The proxy repository this client serves, for logs and errors. */
  readonly name: string;
  readonly url: string;
  readonly credentials?: UpstreamCredentials;
  readonly timeouts: UpstreamTimeouts;
  readonly dispatcher: Dispatcher;
  readonly userAgent: string;
  readonly events?: UpstreamEvents;
  /** Back-off and pull budget of this upstream, shared by every node that reads it. */
  readonly state: UpstreamState;
  /** This upstream's Bearer tokens, shared the same way. */
  readonly tokens: TokenCache;
}

/**
 * What an operator should hear about an upstream, each once per change rather than once per
 * request: a new pull budget, the upstream going down or coming back, a back-off after a 429.
 */
export interface UpstreamEvents {
  /** Every HTTP exchange with the upstream (token service included): for metrics. */
  response?(exchange: UpstreamExchange): void;
  rateLimit?(snapshot: RateLimitSnapshot): void;
  unavailable?(reason: string): void;
  /** The upstream refuses wharf's credentials (or has none to offer for what was asked). */
  refused?(reason: string): void;
  recovered?(): void;
  backingOff?(seconds: number, reason: string): void;
}

/** What a request to an upstream was for. */
export type UpstreamRequestKind = "manifest" | "blob" | "tags" | "referrers" | "token";

export interface UpstreamExchange {
  readonly kind: UpstreamRequestKind;
  readonly method: string;
  /** Undefined when no answer came (connection refused, timeout). */
  readonly status: number | undefined;
  /** Until the response headers arrived, or the request failed. */
  readonly seconds: number;
}

type Headers = Record<string, string | string[] | undefined>;

const MAX_REDIRECTS = 5;
/** The back-off after a 429 without `Retry-After`. */
const DEFAULT_BACKOFF_SECONDS = 60;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * A client for one upstream registry, speaking only the read side of the distribution API.
 * Every failure comes out as an UpstreamError whose kind tells callers whether a cached copy
 * may stand in; the response body of a success belongs to the caller.
 */
export class UpstreamClient implements UpstreamRegistry {
  readonly name: string;
  /** Read by status and metrics; written only by this client. */
  readonly rateLimit: UpstreamState;
  readonly #base: URL;
  readonly #auth: UpstreamAuth;
  readonly #options: UpstreamClientOptions;
  #health: "ok" | "unavailable" | "refused" = "ok";

  constructor(options: UpstreamClientOptions) {
    this.name = options.name;
    this.#options = options;
    this.#base = new URL(options.url.endsWith("/") ? options.url : `${options.url}/`);
    this.rateLimit = options.state;
    this.#auth = new UpstreamAuth(
      options.name,
      options.credentials,
      options.dispatcher,
      options.tokens,
      (status, seconds) => options.events?.response?.({ kind: "token", method: "GET", status, seconds }),
    );
  }

  get url(): string {
    return this.#base.href.replace(/\/$/, "");
  }

  get host(): string {
    return this.#base.host;
  }

  get tokenRequests(): number {
    return this.#auth.tokenRequests;
  }

  async snapshot(): Promise<UpstreamSnapshot> {
    return { rateLimit: await this.rateLimit.snapshot(), tokenRequests: this.tokenRequests };
  }

  /**
   * Asks the upstream's `/v2/` once, as registry:v2's proxy does at start: a 401's challenge
   * teaches the auth scheme, so the first pull asks for its token at once instead of after a
   * refusal, and the connection it opens is there for that pull. Quiet and never throws: an
   * upstream out of reach now (Docker Hub from a machine offline) is the first real request's to
   * report, once, and with what it needed.
   */
  async probe(): Promise<void> {
    try {
      const response = await this.#dispatch("GET", new URL("v2/", this.#base), {
        "user-agent": this.#options.userAgent,
      });
      await response.body.dump();
      if (response.statusCode === 401)
        await this.#auth.learn(response.headers["www-authenticate"], "", false);
    } catch {
      // Reported by the first request that needs the upstream.
    }
  }

  async headManifest(name: string, reference: string, accept: readonly string[]): Promise<ManifestHead> {
    const response = await this.#send("HEAD", `v2/${name}/manifests/${reference}`, {
      kind: "manifest",
      name,
      accept,
      counted: true,
    });
    await response.body.dump();
    const digest = header(response.headers, "docker-content-digest");
    const mediaType = baseMediaType(header(response.headers, "content-type"));
    const size = Number(header(response.headers, "content-length") ?? Number.NaN);
    if (!digest || !tryParseDigest(digest)) {
      throw new UpstreamError("invalid", "manifest HEAD without Docker-Content-Digest", {
        upstream: this.name,
      });
    }
    return { digest, mediaType, size };
  }

  async getManifest(name: string, reference: string, accept: readonly string[]): Promise<FetchedManifest> {
    const response = await this.#send("GET", `v2/${name}/manifests/${reference}`, {
      kind: "manifest",
      name,
      accept,
      counted: true,
    });
    const bytes = await this.#readLimited(response, MAX_MANIFEST_BYTES);
    const mediaType = baseMediaType(header(response.headers, "content-type"));
    const claimed = header(response.headers, "docker-content-digest");
    const algorithm =
      tryParseDigest(reference)?.algorithm ?? tryParseDigest(claimed ?? "")?.algorithm ?? "sha256";
    const digest = digestOf(bytes, algorithm);
    const expected = tryParseDigest(reference) ? reference : claimed;
    if (expected !== undefined && expected !== digest) {
      throw new UpstreamError(
        "invalid",
        `manifest ${reference} from upstream has digest ${digest}, not ${expected}`,
        {
          upstream: this.name,
        },
      );
    }
    return { digest, mediaType, size: bytes.byteLength, bytes };
  }

  async headBlob(name: string, digest: string): Promise<{ size: number | undefined }> {
    const response = await this.#send("HEAD", `v2/${name}/blobs/${digest}`, {
      kind: "blob",
      name,
      followRedirects: true,
    });
    await response.body.dump();
    const length = header(response.headers, "content-length");
    return { size: length === undefined ? undefined : Number(length) };
  }

  /** Starts a blob download; the caller must consume or destroy `body`. */
  async getBlob(name: string, digest: string, signal?: AbortSignal): Promise<FetchedBlob> {
    const response = await this.#send("GET", `v2/${name}/blobs/${digest}`, {
      kind: "blob",
      name,
      followRedirects: true,
      signal,
    });
    const length = header(response.headers, "content-length");
    return { size: length === undefined ? undefined : Number(length), body: response.body };
  }

  async getBlobRange(
    name: string,
    digest: string,
    range: RangeRequest,
    signal?: AbortSignal,
  ): Promise<FetchedRange | undefined> {
    const wanted = rangeHeader(range);
    if (wanted === undefined) return undefined;
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#send("GET", `v2/${name}/blobs/${digest}`, {
        kind: "blob",
        name,
        followRedirects: true,
        signal,
        range: wanted,
      });
    } catch (error) {
      // 416 says nothing the download will not say better (it knows the size): let it answer.
      if (error instanceof UpstreamError && error.status === 416) return undefined;
      throw error;
    }
    const answered = parseAnsweredRange(header(response.headers, "content-range"));
    if (response.statusCode !== 206 || !answered) {
      // The whole blob (a server ignoring Range): the download in progress serves it better.
      response.body.destroy();
      return undefined;
    }
    return { range: answered.range, size: answered.size, body: response.body };
  }

  async listTags(name: string, limit?: number, last?: string): Promise<TagPage> {
    const query = new URLSearchParams();
    if (limit !== undefined) query.set("n", String(limit));
    if (last !== undefined) query.set("last", last);
    const suffix = query.size > 0 ? `?${query}` : "";
    const response = await this.#send("GET", `v2/${name}/tags/list${suffix}`, { kind: "tags", name });
    const body = (await response.body.json()) as { tags?: unknown };
    const tags = Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === "string") : [];
    return { tags, hasMore: header(response.headers, "link") !== undefined };
  }

  /** The upstream's referrers index, or undefined when it has no referrers API. */
  async referrers(name: string, digest: string, artifactType?: string): Promise<Buffer | undefined> {
    const suffix = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : "";
    try {
      const response = await this.#send("GET", `v2/${name}/referrers/${digest}${suffix}`, {
        kind: "referrers",
        name,
      });
      return await this.#readLimited(response, MAX_MANIFEST_BYTES);
    } catch (error) {
      if (error instanceof UpstreamError && (error.kind === "not-found" || error.status === 400))
        return undefined;
      throw error;
    }
  }

  async #readLimited(response: Dispatcher.ResponseData, limit: number): Promise<Buffer> {
    try {
      return await readCapped(
        response.body,
        limit,
        () =>
          new UpstreamError("invalid", `upstream response larger than ${limit} bytes`, {
            upstream: this.name,
          }),
      );
    } catch (error) {
      response.body.destroy();
      throw error;
    }
  }

  /**
   * Sends one request with the upstream's auth, retrying once after a 401 that taught us a
   * better scheme, and following redirects (without our Authorization on other hosts: Docker
   * Hub sends blobs from a CDN). Returns only 2xx responses.
   */
  async #send(
    method: "GET" | "HEAD",
    path: string,
    options: {
      kind: UpstreamRequestKind;
      name: string;
      accept?: readonly string[];
      counted?: boolean;
      followRedirects?: boolean;
      signal?: AbortSignal | undefined;
      /** A `Range` header value. */
      range?: string;
    },
  ): Promise<Dispatcher.ResponseData> {
    // Asked before every counted request: another node may have hit a 429 since the last one.
    const backoff = options.counted ? await this.rateLimit.backoffRemaining() : 0;
    if (backoff > 0) {
      throw new UpstreamError("rate-limited", `backing off after a 429 for ${backoff} s more`, {
        upstream: this.name,
        status: 429,
        retryAfterSeconds: backoff,
      });
    }
    const scope = `repository:${options.name}:pull`;
    let url = new URL(path, this.#base);
    let authorize = true;
    for (let attempt = 0, redirects = 0; ; ) {
      const headers: Record<string, string> = { "user-agent": this.#options.userAgent };
      if (options.accept && options.accept.length > 0) headers.accept = options.accept.join(", ");
      if (options.range) headers.range = options.range;
      const authorization = authorize ? await this.#authorization(scope) : undefined;
      if (authorization) headers.authorization = authorization;
      const response = await this.#request(method, url, headers, options.signal, options.kind);
      const status = response.statusCode;
      await this.#recordBudget(response.headers);
      if (status >= 200 && status < 300) {
        this.#setHealth("ok", "");
        return response;
      }
      await response.body.dump();
      const location = header(response.headers, "location");
      if (status >= 300 && status < 400 && location && options.followRedirects && redirects < MAX_REDIRECTS) {
        const next = new URL(location, url);
        if (next.protocol !== "https:" && next.protocol !== "http:") break;
        authorize = authorize && next.origin === url.origin;
        url = next;
        redirects++;
        continue;
      }
      if (status === 401 && authorize && attempt === 0) {
        attempt++;
        if (await this.#auth.learn(response.headers["www-authenticate"], scope, authorization !== undefined))
          continue;
      }
      throw this.#noted(await this.#failure(status, response.headers, `${method} ${url.pathname}`));
    }
    throw new UpstreamError("invalid", `${method} ${path}: unusable redirect`, { upstream: this.name });
  }

  async #request(
    method: "GET" | "HEAD",
    url: URL,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
    kind: UpstreamRequestKind,
  ): Promise<Dispatcher.ResponseData> {
    const started = performance.now();
    const report = (status: number | undefined) =>
      this.#options.events?.response?.({
        kind,
        method,
        status,
        seconds: (performance.now() - started) / 1000,
      });
    try {
      const response = await this.#dispatch(method, url, headers, signal);
      report(response.statusCode);
      return response;
    } catch (cause) {
      report(undefined);
      const reason = cause instanceof Error ? cause.message : String(cause);
      const message = `${method} ${url.host}${url.pathname}: ${reason}`;
      const failure = new UpstreamError("unavailable", message, { upstream: this.name, cause });
      throw signal?.aborted ? failure : this.#noted(failure);
    }
  }

  /** One request on the upstream's connections, within its timeouts; nothing reported. */
  #dispatch(
    method: "GET" | "HEAD",
    url: URL,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    return request(url, {
      method,
      headers,
      // undici closes the connection after a HEAD unless told otherwise (for servers that send a
      // body with one, which registries do not): every tag revalidation and blob HEAD would then
      // pay a new connection, and a TLS handshake, and the request after it too.
      reset: false,
      dispatcher: this.#options.dispatcher,
      headersTimeout: this.#options.timeouts.headersMs,
      bodyTimeout: this.#options.timeouts.bodyMs,
      ...(signal ? { signal } : {}),
    });
  }

  async #authorization(scope: string): Promise<string | undefined> {
    try {
      return await this.#auth.authorization(scope);
    } catch (error) {
      throw error instanceof UpstreamError ? this.#noted(error) : error;
    }
  }

  /** Records what a failure says about the upstream's health, and hands it back to be thrown. */
  #noted(error: UpstreamError): UpstreamError {
    if (error.kind === "unavailable") this.#setHealth("unavailable", error.message);
    if (error.kind === "unauthorized") this.#setHealth("refused", error.message);
    return error;
  }

  /** Tells the operator once per change, not once per request. */
  #setHealth(health: "ok" | "unavailable" | "refused", reason: string): void {
    if (health === this.#health) return;
    this.#health = health;
    const events = this.#options.events;
    if (health === "ok") events?.recovered?.();
    else if (health === "unavailable") events?.unavailable?.(reason);
    else events?.refused?.(reason);
  }

  /** Tells the state what a response said of the budget; the operator hears of changes only. */
  async #recordBudget(headers: Headers): Promise<void> {
    const budget = pullBudgetOf(headers);
    if (budget && (await this.rateLimit.recordBudget(budget)))
      this.#options.events?.rateLimit?.(await this.rateLimit.snapshot());
  }

  async #failure(status: number, headers: Headers, what: string): Promise<UpstreamError> {
    const kind = failureKindOf(status);
    const retryAfterSeconds = parseRetryAfter(headers["retry-after"]);
    if (kind === "rate-limited") {
      const seconds = retryAfterSeconds ?? DEFAULT_BACKOFF_SECONDS;
      if (await this.rateLimit.backOff(seconds, `429 on ${what}`))
        this.#options.events?.backingOff?.(seconds, `429 on ${what}`);
    }
    return new UpstreamError(kind, `${what} answered ${status}`, {
      upstream: this.name,
      status,
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    });
  }
}
