import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { type RawResponse, rawRequest, sha256 } from "./requests.js";

// The push side of the distribution API spoken raw against wharf (no auth), for tests that check
// each step's status and headers: upload sessions, chunks, an interrupted chunk, manifest PUTs.

/** The path and query of an upload Location (wharf answers relative ones; absolute ones are cut down). */
export function locationPath(res: RawResponse): string {
  const location = res.headers.location;
  if (!location) throw new Error(`no Location in a ${res.status} answer: ${res.body.toString()}`);
  const url = new URL(location, "http://wharf.invalid");
  return `${url.pathname}${url.search}`;
}

/** The last byte offset of an upload's `Range: 0-<last>` header, plus one: the bytes it holds. */
export function uploadedBytes(res: RawResponse): number {
  const match = /^0-(\d+)$/.exec(String(res.headers.range ?? ""));
  if (!match) throw new Error(`no upload Range in a ${res.status} answer: ${JSON.stringify(res.headers)}`);
  // `0-0` is both "nothing yet" and "one byte": the spec leaves it ambiguous, wharf says 0-0 for empty
  return Number(match[1]) === 0 ? 0 : Number(match[1]) + 1;
}

/** POST /v2/<name>/blobs/uploads/ with an optional query (`mount=…&from=…`, `digest=…`). */
export function startUpload(base: string, name: string, query = "", body?: Buffer): Promise<RawResponse> {
  return rawRequest(base, `/v2/${name}/blobs/uploads/${query ? `?${query}` : ""}`, {
    method: "POST",
    headers: body ? { "content-type": "application/octet-stream" } : {},
    ...(body ? { body } : {}),
  });
}

/** One PATCH chunk at `start` with Content-Range; without `start`, a streamed chunk (docker's way). */
export function patchChunk(
  base: string,
  location: string,
  chunk: Buffer,
  start?: number,
): Promise<RawResponse> {
  return rawRequest(base, location, {
    method: "PATCH",
    headers: {
      "content-type": "application/octet-stream",
      ...(start === undefined ? {} : { "content-range": `${start}-${start + chunk.length - 1}` }),
    },
    body: chunk,
  });
}

/** The closing PUT ?digest= of an upload, with an optional last chunk. */
export function closeUpload(
  base: string,
  location: string,
  digest: string,
  last?: Buffer,
): Promise<RawResponse> {
  const sep = location.includes("?") ? "&" : "?";
  return rawRequest(base, `${location}${sep}digest=${digest}`, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream", ...(last ? {} : { "content-length": "0" }) },
    ...(last ? { body: last } : {}),
  });
}

/**
 * A PATCH that announces all of `chunk` but sends only its first `sent` bytes, waits until they
 * have surely crossed loopback, then destroys the socket: a client that lost its connection.
 */
export async function interruptedPatch(
  base: string,
  location: string,
  chunk: Buffer,
  sent: number,
  start = 0,
): Promise<void> {
  const url = new URL(base);
  const req = http.request({
    host: url.hostname,
    port: url.port,
    method: "PATCH",
    path: location,
    agent: false,
    headers: {
      "content-type": "application/octet-stream",
      "content-length": chunk.length,
      "content-range": `${start}-${start + chunk.length - 1}`,
    },
  });
  // the answer never comes; the error from destroying our own socket is the expected end
  req.on("error", () => {});
  await new Promise<void>((resolve) => req.write(chunk.subarray(0, sent), () => resolve()));
  await sleep(300);
  req.destroy();
}

/** A whole blob in one request (POST ?digest=); throws unless wharf answers 201. */
export async function pushBlob(base: string, name: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const res = await startUpload(base, name, `digest=${digest}`, bytes);
  if (res.status !== 201) throw new Error(`POST ?digest= for ${name}: ${res.status} ${res.body.toString()}`);
  return digest;
}

/** PUT /v2/<name>/manifests/<reference> with the manifest's own media type. */
export function putManifest(
  base: string,
  name: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
): Promise<RawResponse> {
  return rawRequest(base, `/v2/${name}/manifests/${reference}`, {
    method: "PUT",
    headers: { "content-type": mediaType },
    body: bytes,
  });
}
