import zlib from "node:zlib";

// Test layers are written by hand rather than with a tar/gzip library so their bytes depend only
// on this code: no library or zlib version can change a digest.

export interface TarEntry {
  name: string;
  /** Absent for a directory. */
  data?: Buffer;
  mode?: number;
}

const MTIME = 1_700_000_000;

function octal(buf: Buffer, value: number, offset: number, width: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, "0")}\0`, offset, width, "ascii");
}

function ustarHeader(entry: TarEntry): Buffer {
  const h = Buffer.alloc(512);
  const dir = entry.data === undefined;
  const name = dir && !entry.name.endsWith("/") ? `${entry.name}/` : entry.name;
  if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long: ${name}`);
  h.write(name, 0, 100, "utf8");
  octal(h, entry.mode ?? (dir ? 0o755 : 0o644), 100, 8);
  octal(h, 0, 108, 8);
  octal(h, 0, 116, 8);
  octal(h, entry.data?.length ?? 0, 124, 12);
  octal(h, MTIME, 136, 12);
  h.fill(" ", 148, 156);
  h.write(dir ? "5" : "0", 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write("root", 265, "ascii");
  h.write("root", 297, "ascii");
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return h;
}

/** A ustar archive (mtime, owners and modes fixed). */
export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    parts.push(ustarHeader(entry));
    if (entry.data) {
      parts.push(entry.data);
      const pad = (512 - (entry.data.length % 512)) % 512;
      if (pad) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/**
 * gzip with stored (uncompressed) deflate blocks: valid for every client, independent of zlib's
 * compressor, and the layer data is incompressible anyway.
 */
export function gzipStored(data: Buffer): Buffer {
  const BLOCK = 0xffff;
  const blocks = Math.max(1, Math.ceil(data.length / BLOCK));
  const out = Buffer.alloc(10 + blocks * 5 + data.length + 8);
  // magic, deflate, no flags, mtime 0, no extra flags, OS "unknown"
  Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]).copy(out, 0);
  let pos = 10;
  for (let i = 0; i < blocks; i++) {
    const chunk = data.subarray(i * BLOCK, (i + 1) * BLOCK);
    out[pos] = i === blocks - 1 ? 1 : 0;
    out.writeUInt16LE(chunk.length, pos + 1);
    out.writeUInt16LE(~chunk.length & 0xffff, pos + 3);
    chunk.copy(out, pos + 5);
    pos += 5 + chunk.length;
  }
  out.writeUInt32LE(zlib.crc32(data) >>> 0, pos);
  out.writeUInt32LE(data.length % 2 ** 32, pos + 4);
  return out;
}
