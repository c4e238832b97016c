import { ReadStream } from "node:fs";
import type { ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { Socket } from "node:net";
import { TLSSocket } from "node:tls";

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

/**
 * Sends the rest of a response from a file with sendfile(2), when the addon is built, the
 * socket is plain TCP and `body` is an unread file stream with a known end. Returns false
 * (having touched nothing) when it cannot, so the caller streams instead. The headers must
 * already be set with writeHead; the stream is destroyed (closing its file) either way it ends.
 */
export async function trySendfile(res: ServerResponse, body: unknown): Promise<boolean> {
  const file = untouchedFile(body);
  const fd = socketFd(res.socket);
  if (!addon || !file || fd === undefined) return false;
  const stream = body as ReadStream;
  try {
    // Everything Node queued (the headers) must reach the socket before the kernel appends the body.
    res.flushHeaders();
    await new Promise<void>((resolve, reject) =>
      res.socket?.write(Buffer.alloc(0), (error) => (error ? reject(error) : resolve())),
    );
    const length = file.end - file.start + 1;
    await new Promise<void>((resolve, reject) => {
      const failed = addon.sendfile(fd, file.fd, file.start, length, (errno, sent) =>
        errno === 0 && sent === length
          ? resolve()
          : reject(new Error(`sendfile failed: errno ${errno} after ${sent} bytes`)),
      );
      if (failed !== 0) reject(new Error(`sendfile could not start: errno ${failed}`));
    });
    res.end();
  } catch (error) {
    res.destroy(error instanceof Error ? error : undefined);
    throw error;
  } finally {
    stream.destroy();
  }
  return true;
}
