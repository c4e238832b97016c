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
  // The headers Node queued must reach the socket before the kernel appends the body.
  res.flushHeaders();
  await writeRaw(socket, Buffer.alloc(0));
  if (body.kind === "file") {
    if (body.length > 0) await sendRange(addon, fd, body.fd, body.start, body.length);
  } else {
    for await (const piece of body.pieces()) {
      // A client that left while we waited for the download must not keep this loop going.
      if (res.destroyed || socket.destroyed) throw new Error("the client went away");
      if (piece.kind === "file") await sendRange(addon, fd, piece.fd, piece.start, piece.length);
      else await writeRaw(socket, piece.bytes);
    }
  }
  res.end();
  return true;
}
