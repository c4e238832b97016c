import crypto from "node:crypto";
import http from "node:http";
import https from "node:https";
import { MediaTypes } from "../images/test-images.js";

// Raw HTTP against a registry (wharf), for tests that check status codes, headers and bytes
// exactly. node:http rather than fetch: fetch normalises "..", "%2e" and the method's case, and
// buffers nothing we could not also stream.

/** Every manifest type a pulling client accepts (containerd's list, one comma-joined line). */
export const ACCEPT_MANIFESTS = [
  MediaTypes.ociIndex,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifest,
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");

export function sha256(data: Uint8Array | string): string {
  return `sha256:${crypto.createHash("sha256").update(data).digest("hex")}`;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface RawOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  /** Sent as the request body (Content-Length is set from it unless headers give one). */
  body?: Buffer;
  /** Fails the request when no complete answer came within this; default 30 s. */
  timeoutMs?: number;
  /** PEM of the CA an https:// base must chain to. */
  ca?: Buffer;
}

/** node:http or, for an https:// base, node:https trusting `ca`. */
function send(
  url: URL,
  options: http.RequestOptions,
  ca: Buffer | undefined,
  onResponse: (res: http.IncomingMessage) => void,
): http.ClientRequest {
  const target = { ...options, host: url.hostname, port: url.port, agent: false };
  return url.protocol === "https:"
    ? https.request({ ...target, ...(ca ? { ca } : {}) }, onResponse)
    : http.request(target, onResponse);
}

/** One request; `path` goes on the wire exactly as given. Resolves once the whole body arrived. */
export function rawRequest(base: string, path: string, opts: RawOptions = {}): Promise<RawResponse> {
  const url = new URL(base);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: opts.method ?? "GET", path, headers: opts.headers }, opts.ca, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`${opts.method ?? "GET"} ${path}: no complete answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (opts.body && req.getHeader("content-length") === undefined)
      req.setHeader("content-length", opts.body.length);
    req.end(opts.body);
  });
}

/** The `code`s of a spec error body (`{"errors":[{"code":…}]}`); [] when the body is not one. */
export function errorCodes(body: Buffer | string): string[] {
  try {
    const parsed = JSON.parse(body.toString()) as { errors?: Array<{ code?: unknown }> };
    return (parsed.errors ?? []).map((e) => String(e.code));
  } catch {
    return [];
  }
}

export interface StreamedBody {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** sha256 of the body as received. */
  digest: string;
  bytes: number;
  /** True when the body ended normally; false when the connection was cut mid-body. */
  complete: boolean;
}

/**
 * A GET whose body is hashed as it arrives and never held whole (for blobs of hundreds of MB).
 * `onData` sees the running byte count after each chunk; when it returns a promise, reading
 * pauses until that settles (a client holding a transfer open).
 */
export function streamGet(
  base: string,
  path: string,
  opts: RawOptions & { onData?: (received: number) => void | Promise<void> } = {},
): Promise<StreamedBody> {
  const url = new URL(base);
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: "GET", path, headers: opts.headers }, opts.ca, (res) => {
      const hash = crypto.createHash("sha256");
      let bytes = 0;
      let settled = false;
      const finish = (complete: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const digest = `sha256:${hash.digest("hex")}`;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, digest, bytes, complete });
      };
      res.on("data", (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
        const hold = opts.onData?.(bytes);
        if (hold) {
          res.pause();
          const resume = () => res.resume();
          hold.then(resume, resume);
        }
      });
      res.on("end", () => finish(true));
      // a cut body is a result to assert on, not a test failure
      res.on("error", () => finish(false));
      res.on("aborted", () => finish(false));
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`GET ${path}: not done in ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end();
  });
}
