import type { OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { OciError } from "../oci/errors.js";
import type { BytesBody } from "../store/blob-body.js";
import type { RequestContext } from "./context.js";
import { toOciError } from "./error-mapping.js";
import { mustCloseAfterAnswer } from "./request-body.js";
import { sendWithSendfile } from "./sendfile.js";

export const API_VERSION_HEADER = { "docker-distribution-api-version": "registry/2.0" } as const;

/** Every response starts here: the API version, and a hang-up when a request body is left unread. */
function writeHead(ctx: RequestContext, status: number, headers: OutgoingHttpHeaders): void {
  const close = mustCloseAfterAnswer(ctx.req) ? { connection: "close" } : {};
  ctx.res.writeHead(status, { ...API_VERSION_HEADER, ...close, ...headers });
}

export function sendJson(
  ctx: RequestContext,
  status: number,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  const payload = Buffer.from(JSON.stringify(body));
  sendBytes(ctx, status, payload, { "content-type": "application/json", ...headers });
}

/** Sends a complete body; HEAD gets the same headers without it. */
export function sendBytes(
  ctx: RequestContext,
  status: number,
  payload: Buffer,
  headers: OutgoingHttpHeaders,
): void {
  writeHead(ctx, status, { "content-length": payload.byteLength, ...headers });
  if (ctx.method === "HEAD") {
    ctx.res.end();
    return;
  }
  ctx.bytes = payload.byteLength;
  ctx.res.end(payload);
}

export function sendEmpty(ctx: RequestContext, status: number, headers: OutgoingHttpHeaders = {}): void {
  writeHead(ctx, status, { "content-length": 0, ...headers });
  ctx.res.end();
}

/**
 * Sends a blob body: with sendfile when its kind allows and the socket can take it, piped
 * otherwise. If the source fails after the headers went out, the connection is cut so the client
 * sees a short body (never a complete-looking wrong one); if the client leaves, the body is
 * released so nothing keeps reading on its behalf. The body is released in every case.
 */
export async function sendBody(
  ctx: RequestContext,
  status: number,
  headers: OutgoingHttpHeaders,
  body: BytesBody,
  length: number | undefined,
): Promise<void> {
  try {
    writeHead(ctx, status, headers);
    if (ctx.method === "HEAD") {
      ctx.res.end();
      return;
    }
    // Counted before sending: the access log is written the moment the response finishes.
    ctx.bytes = length ?? 0;
    try {
      // Without a length Node frames the body in chunks, which bytes sent past it would break.
      const direct = body.kind !== "stream" && length !== undefined;
      if (direct && (await sendWithSendfile(ctx.res, body))) {
        ctx.delivered = true;
        return;
      }
      await pipeline(body.stream(), ctx.res);
      ctx.delivered = true;
    } catch (error) {
      cutBody(ctx, error);
    }
  } finally {
    body.release();
  }
}

/**
 * A piece of a body sent in parts: bytes in hand, or `length` bytes of a body opened when its turn
 * comes. Only those bytes are taken from it: a range read from a download still running ends its
 * stream only once the whole blob is verified, and the next part must not wait for that.
 */
export type BodyPart = Buffer | { readonly length: number; open(): Promise<BytesBody> };

/**
 * Sends a body of `length` bytes made of parts, one after another, each body opened only when its
 * turn comes (so a range that must come from upstream is asked for then) and released once its
 * bytes are out. A part that fails after the headers went out cuts the connection, as in sendBody.
 * GET only.
 */
export async function sendParts(
  ctx: RequestContext,
  status: number,
  headers: OutgoingHttpHeaders,
  parts: readonly BodyPart[],
  length: number,
): Promise<void> {
  writeHead(ctx, status, { ...headers, "content-length": length });
  ctx.bytes = length;
  try {
    for (const part of parts) {
      if (Buffer.isBuffer(part)) {
        await write(ctx.res, part);
        continue;
      }
      const body = await part.open();
      try {
        await writeFirst(ctx.res, body.stream(), part.length);
      } finally {
        body.release();
      }
    }
    ctx.res.end();
    ctx.delivered = true;
  } catch (error) {
    cutBody(ctx, error);
  }
}

/** Writes the first `length` bytes of `source`; leaving the loop early destroys it. */
async function writeFirst(res: ServerResponse, source: Readable, length: number): Promise<void> {
  let left = length;
  for await (const chunk of source) {
    const piece = (chunk as Buffer).subarray(0, left);
    left -= piece.byteLength;
    await write(res, piece);
    if (left === 0) return;
  }
  throw new Error(`a part of the body ended ${left} bytes short`);
}

/** The code a pipeline gives a destination closed early, which cutBody reads as the client leaving. */
function wentAway(): Error {
  return Object.assign(new Error("the client went away"), { code: "ERR_STREAM_PREMATURE_CLOSE" });
}

/** Writes `bytes`, waiting while the socket is full; rejects when the client went away. */
async function write(res: ServerResponse, bytes: Buffer): Promise<void> {
  if (res.destroyed) throw wentAway();
  if (res.write(bytes)) return;
  await new Promise<void>((resolve, reject) => {
    const drained = () => {
      res.off("close", closed);
      resolve();
    };
    const closed = () => {
      res.off("drain", drained);
      reject(wentAway());
    };
    res.once("drain", drained);
    res.once("close", closed);
  });
}

/** After the headers went out, a body that cannot go on ends the connection: the client sees it short. */
function cutBody(ctx: RequestContext, error: unknown): void {
  ctx.res.destroy();
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ERR_STREAM_PREMATURE_CLOSE" || ctx.req.destroyed) {
    ctx.log.debug({ reqId: ctx.id }, "client went away during the body");
  } else {
    ctx.errorCode = "BODY_ABORTED";
    ctx.log.debug({ reqId: ctx.id, err: error }, "body aborted");
  }
}

/** Renders any error as the spec's envelope; unexpected ones are logged once, with their stack. */
export function sendError(ctx: RequestContext, error: unknown): void {
  // The request's own stream failed: the client hung up or was cut off mid-body. Nobody is left
  // to answer, and nothing in wharf went wrong.
  if (error !== null && error === ctx.req.errored) {
    ctx.errorCode = "CLIENT_ABORTED";
    ctx.log.debug({ reqId: ctx.id, err: error }, "client went away during the request body");
    ctx.res.destroy();
    return;
  }
  const known = toOciError(error);
  if (!known) ctx.log.error({ err: error, reqId: ctx.id, path: ctx.path }, "unexpected error");
  const oci = known ?? new OciError("UNKNOWN", { cause: error });
  ctx.errorCode = oci.code;
  if (ctx.res.headersSent) {
    ctx.res.destroy();
    return;
  }
  sendJson(ctx, oci.status, oci.toJSON(), oci.headers);
}
