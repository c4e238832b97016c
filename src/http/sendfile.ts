import type { ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { FileBody, InProgressBody } from "../store/blob-body.js";

/** The native addon (native/sendfile.cc), when it was built for this machine. */
interface SendfileAddon {
  sendfile(
    socketFd: number,
    fileFd: number,
    offset: number,
    length: number,
    copy: boolean,
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

function socketFd(socket: Socket | null): number | undefined {
  // TLS encrypts in user space, so only a plain TCP socket can take bytes straight from the page cache.
  if (!(socket instanceof Socket) || socket instanceof TLSSocket || socket.destroyed) return undefined;
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  return typeof handle?.fd === "number" && handle.fd >= 0 ? handle.fd : undefined;
}

/**
 * How the addon moves a file's bytes to a socket: `pages` hands page cache pages to the socket
 * (sendfile(2), no copy by this process); `copy` reads them into a buffer and writes it.
 */
export type SendMode = "pages" | "copy";

/**
 * A client on this machine copies every byte out of the socket itself, faster from a buffer just
 * written than from page cache pages nobody touched: it gets `copy` (native/sendfile.cc says what
 * was measured). A client across a network gets `pages`: the network card reads them itself.
 */
export function sendModeFor(socket: Socket): SendMode {
  const address = socket.remoteAddress ?? "";
  const local = address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
  return local ? "copy" : "pages";
}

/**
 * Sends `length` bytes of `fileFd` from `start` to a plain TCP socket with the addon, resolving
 * when the kernel took them all. Nothing else may write to the socket meanwhile.
 */
export function sendFileRange(
  socket: Socket,
  fileFd: number,
  start: number,
  length: number,
  mode: SendMode,
): Promise<void> {
  const fd = socketFd(socket);
  if (!addon || fd === undefined)
    return Promise.reject(new Error("sendfile is not available on this socket"));
  return new Promise<void>((resolve, reject) => {
    const failed = addon.sendfile(fd, fileFd, start, length, mode === "copy", (errno, sent) =>
      errno === 0 && sent === length
        ? resolve()
        : reject(new Error(`sendfile failed: errno ${errno} after ${sent} of ${length} bytes`)),
    );
    if (failed !== 0) reject(new Error(`sendfile could not start: errno ${failed}`));
  });
}

/**
 * Writes bytes straight to the socket, resolving once everything queued before them reached the
 * kernel too: a sendfile after it appends in order.
 */
function writeRaw(socket: Socket, bytes: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    socket.write(bytes, (error) => (error ? reject(error) : resolve())),
  );
}

/**
 * Sends a file or in-progress body with sendfile(2) when the addon is built and the socket is
 * plain TCP; resolves false when it cannot, having touched nothing (then pipe `body.stream()`).
 * The headers must be set with writeHead and announce the length: the bytes bypass Node's framing.
 * An in-progress body's file pieces go by sendfile, its pieces in memory by a plain write.
 */
export async function sendWithSendfile(
  res: ServerResponse,
  body: FileBody | InProgressBody,
): Promise<boolean> {
  const socket = res.socket;
  const fd = socketFd(socket);
  if (!addon || fd === undefined || !socket) return false;
  const mode = sendModeFor(socket);
  // The headers Node queued must reach the socket before the kernel appends the body.
  res.flushHeaders();
  await writeRaw(socket, Buffer.alloc(0));
  if (body.kind === "file") {
    if (body.length > 0) await sendFileRange(socket, body.fd, body.start, body.length, mode);
  } else {
    for await (const piece of body.pieces()) {
      // A client that left while we waited for the download must not keep this loop going.
      if (res.destroyed || socket.destroyed) throw new Error("the client went away");
      if (piece.kind === "file") await sendFileRange(socket, piece.fd, piece.start, piece.length, mode);
      else await writeRaw(socket, piece.bytes);
    }
  }
  res.end();
  return true;
}
