import type { IncomingMessage } from "node:http";

/**
 * Node reads and discards what a handler left of a request body so the connection can serve the
 * next request. Past this much, or when the length is unknown (and may be endless), hanging up is
 * cheaper; Go's net/http draws the line at 256 KiB too.
 */
const MAX_DRAIN_BYTES = 256 * 1024;

/** Whether the request announces a body: a length above 0, or a transfer coding. */
export function announcesBody(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
}

/**
 * Whether an answer sent now must close the connection: the body is not all here, and it is too
 * long to drain, of unknown length, or its stream was already torn down (an upload refused in the
 * middle), in which case Node would stop reading the socket and leave the connection hanging.
 */
export function mustCloseAfterAnswer(req: IncomingMessage): boolean {
  if (req.complete) return false;
  if (req.destroyed || req.headers["transfer-encoding"] !== undefined) return true;
  return Number(req.headers["content-length"] ?? 0) > MAX_DRAIN_BYTES;
}
