import type { Readable } from "node:stream";
import { type Dispatcher, request } from "undici";
import { LocalTokenCache } from "../coordination/token-cache.js";
import { digestOf, tryParseDigest } from "../oci/digest.js";
import { MAX_MANIFEST_BYTES } from "../oci/manifest.js";
import { ALL_MANIFEST_TYPES, baseMediaType } from "../oci/media-types.js";
import { UpstreamAuth, type UpstreamCredentials } from "../upstream/auth.js";
import { failureKindOf, UpstreamError } from "../upstream/errors.js";
import { readCapped } from "../util/read-capped.js";

/** Where an image lives on the registry asked: its path, and for containerd's `?ns=` the registry it names. */
export interface PullTarget {
  readonly name: string;
  readonly ns?: string;
}

export interface PulledManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Buffer;
}

export interface PulledBlob {
  /** Content-Length; undefined when the registry streams without one. */
  readonly size: number | undefined;
  /** `X-Wharf-Cache`: how wharf produced it (hit, miss, revalidated, stale), when it says. */
  readonly cache: string | undefined;
  /** The caller reads or destroys it. */
  readonly body: Readable;
}

export interface PullClientOptions {
  readonly url: string;
  readonly credentials?: UpstreamCredentials;
  /** Follows redirects (a blob may live elsewhere), e.g. an Agent composed with undici's redirect interceptor. */
  readonly dispatcher: Dispatcher;
  readonly userAgent: string;
  readonly timeouts?: { readonly headersMs: number; readonly bodyMs: number };
}

function header(headers: Dispatcher.ResponseData["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The read side of the registry API as a client uses it, for pulling through a running wharf:
 * manifests (verified against their digest) and blob bodies, with the registry's token protocol
 * or Basic credentials as its 401 asks (`UpstreamAuth`, the same flows wharf uses upstream).
 */
export class PullClient {
  readonly #base: URL;
  readonly #auth: UpstreamAuth;
  readonly #options: PullClientOptions;

  constructor(options: PullClientOptions) {
    this.#options = options;
    this.#base = new URL(options.url.endsWith("/") ? options.url : `${options.url}/`);
    this.#auth = new UpstreamAuth(
      this.#base.host,
      options.credentials,
      options.dispatcher,
      new LocalTokenCache(),
    );
  }

  async manifest(target: PullTarget, reference: string): Promise<PulledManifest> {
    const response = await this.#get(target, `manifests/${reference}`, ALL_MANIFEST_TYPES);
    const what = `manifest ${target.name}:${reference}`;
    let bytes: Buffer;
    try {
      bytes = await readCapped(
        response.body,
        MAX_MANIFEST_BYTES,
        () =>
          new UpstreamError("invalid", `${what} is larger than ${MAX_MANIFEST_BYTES} bytes`, {
            upstream: this.#base.host,
          }),
      );
    } finally {
      response.body.destroy();
    }
    const expected = tryParseDigest(reference)
      ? reference
      : header(response.headers, "docker-content-digest");
    const digest = digestOf(bytes, tryParseDigest(expected ?? "")?.algorithm ?? "sha256");
    if (expected !== undefined && expected !== digest) {
      throw new UpstreamError("invalid", `${what} has digest ${digest}, not ${expected}`, {
        upstream: this.#base.host,
      });
    }
    return { digest, mediaType: baseMediaType(header(response.headers, "content-type")), bytes };
  }

  async blob(target: PullTarget, digest: string): Promise<PulledBlob> {
    const response = await this.#get(target, `blobs/${digest}`);
    const length = header(response.headers, "content-length");
    return {
      size: length === undefined ? undefined : Number(length),
      cache: header(response.headers, "x-wharf-cache"),
      body: response.body,
    };
  }

  /** One GET, retried once after a 401 that taught a scheme; anything but 200 is an UpstreamError. */
  async #get(target: PullTarget, path: string, accept?: readonly string[]): Promise<Dispatcher.ResponseData> {
    const url = new URL(`v2/${target.name}/${path}`, this.#base);
    if (target.ns !== undefined) url.searchParams.set("ns", target.ns);
    const scope = `repository:${target.name}:pull`;
    const timeouts = this.#options.timeouts ?? { headersMs: 30_000, bodyMs: 60_000 };
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { "user-agent": this.#options.userAgent };
      if (accept) headers.accept = accept.join(", ");
      const authorization = await this.#auth.authorization(scope);
      if (authorization) headers.authorization = authorization;
      let response: Dispatcher.ResponseData;
      try {
        response = await request(url, {
          headers,
          dispatcher: this.#options.dispatcher,
          headersTimeout: timeouts.headersMs,
          bodyTimeout: timeouts.bodyMs,
        });
      } catch (cause) {
        const reason = cause instanceof Error ? cause.message : String(cause);
        throw new UpstreamError("unavailable", `GET ${url.pathname}: ${reason}`, {
          upstream: this.#base.host,
          cause,
        });
      }
      if (response.statusCode === 200) return response;
      await response.body.dump();
      const status = response.statusCode;
      if (
        status === 401 &&
        attempt === 0 &&
        (await this.#auth.learn(response.headers["www-authenticate"], scope, authorization !== undefined))
      ) {
        continue;
      }
      throw new UpstreamError(failureKindOf(status), `GET ${url.pathname}${url.search} answered ${status}`, {
        upstream: this.#base.host,
        status,
      });
    }
  }
}
