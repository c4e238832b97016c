import { ReadStream } from "node:fs";
import type { ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { FillReader } from "../store/fill.js";

/** The native addon (native/sendfile.cc), when it was built for this machine. */
interface SendfileAddon {
  sendfile(
    socketFd: number,
    fileFd: number,
    offset: number,
    length: number,
    done: (errno: number, sent: number) => void,
  ): number;
}

function loadAddon(): SendfileAddon | undefined {
  if (process.env.WHARF_SENDFILE === "off") return undefined;
  try {
    return createRequire(import.meta.url)("../../../build/Release/wharf_sendfile.node") as SendfileAddon;
  } catch {
    // Not built (no compiler, another OS): blobs are streamed through JavaScript instead.
    return undefined;
  }
}

const addon = loadAddon();

export const sendfileAvailable = addon !== undefined;

/** A file-backed stream that nothing has read yet, and its byte range. */
function untouchedFile(body: unknown): { fd: number; start: number; end: number } | undefined {
  if (!(body instanceof ReadStream) || body.bytesRead > 0 || body.readableFlowing !== null) return undefined;
  // fs.ReadStream keeps these as plain fields; @types/node does not declare start and end.
  const { fd, start, end } = body as unknown as { fd: unknown; start: unknown; end: unknown };
  if (typeof fd !== "number" || typeof end !== "number" || !Number.isSafeInteger(end)) return undefined;
  return { fd, start: typeof start === "number" ? start : 0, end };
}

function socketFd(socket: Socket | null): number | undefined {
  // TLS encrypts in user space, so only a plain TCP socket can take bytes straight from the page cache.
  if (!(socket instanceof Socket) || socket instanceof TLSSocket || socket.destroyed) return undefined;
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  return typeof handle?.fd === "number" && handle.fd >= 0 ? handle.fd : undefined;
}

/** Sends `length` bytes of `fileFd` from `start` to the socket, resolving when the kernel took them all. */
function sendRange(addon: SendfileAddon, socket: number, fileFd: number, start: number, length: number) {
  return new Promise<void>((resolve, reject) => {
    const failed = addon.sendfile(socket, fileFd, start, length, (errno, sent) =>
      errno === 0 && sent === length
        ? resolve()
        : reject(new Error(`sendfile failed: errno ${errno} after ${sent} of ${length} bytes`)),
    );
    if (failed !== 0) reject(new Error(`sendfile could not start: errno ${failed}`));
  });
}

/** Everything Node queued (the headers) must reach the socket before the kernel appends the body. */
async function flushHeaders(res: ServerResponse): Promise<void> {
  res.flushHeaders();
  await new Promise<void>((resolve, reject) =>
    res.socket?.write(Buffer.alloc(0), (error) => (error ? reject(error) : resolve())),
  );
}

export type SendfileOutcome = "sent" | "unsupported" | "continue-streaming";

/**
 * Sends a response body with sendfile(2) when the addon is built and the socket is plain TCP:
 * an unread file stream with a known end (a stored blob), or a FillReader (a blob still
 * downloading), followed through the spool file span by span. The headers must be set with
 * writeHead. "unsupported": nothing was touched, stream the body. "continue-streaming": part
 * went out and the rest exists only in memory, so pipe the body from where it stands.
 */
export async function trySendfile(res: ServerResponse, body: unknown): Promise<SendfileOutcome> {
  const socket = socketFd(res.socket);
  if (!addon || socket === undefined) return "unsupported";
  const file = untouchedFile(body);
  if (file) {
    const stream = body as ReadStream;
    try {
      await flushHeaders(res);
      await sendRange(addon, socket, file.fd, file.start, file.end - file.start + 1);
      res.end();
      return "sent";
    } finally {
      stream.destroy();
    }
  }
  if (!(body instanceof FillReader) || !body.worthSendfile || body.readableFlowing !== null)
    return "unsupported";
  await flushHeaders(res);
  for (;;) {
    const span = await body.nextFileSpan();
    // A client that left while we waited for the download must not keep this loop going.
    if (res.destroyed || res.socket?.destroyed !== false) throw new Error("the client went away");
    if (span === "stream") return "continue-streaming";
    if (span === "end") {
      body.destroy();
      res.end();
      return "sent";
    }
    await sendRange(addon, socket, span.fd, span.start, span.length);
    body.advance(span.length);
  }
}
