import { constants } from "node:fs";
import { open } from "node:fs/promises";
import type { LocalFile } from "./blob-writer.js";

/** A second, read-only descriptor: it keeps reading the bytes after a rename or an unlink of the path. */
export async function openLocalFile(path: string): Promise<LocalFile> {
  const handle = await open(path, constants.O_RDONLY);
  let closed: Promise<void> | undefined;
  return {
    fd: handle.fd,
    async read(position, length) {
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      return bytesRead === length ? buffer : buffer.subarray(0, bytesRead);
    },
    close() {
      closed ??= handle.close();
      return closed;
    },
  };
}
