import { randomBytes } from "node:crypto";
import type { ByteRange } from "../oci/range.js";

/** The framing of a `multipart/byteranges` answer (RFC 9110 §14.6): what goes around each range's bytes. */
export interface MultipartRanges {
  /** The answer's Content-Type, with its boundary. */
  readonly contentType: string;
  /** Before each range's bytes: its delimiter and headers. */
  readonly heads: readonly Buffer[];
  /** After the last range: the closing delimiter. */
  readonly tail: Buffer;
  /** The whole body: every head, range and the tail. */
  readonly length: number;
}

/**
 * Frames `ranges` of a blob of `size` as Go's and nginx's file servers do, so clients written
 * against them (stargz's fetcher reads each part's Content-Range) read it alike. The boundary is
 * random: a blob's bytes cannot be made to contain it.
 */
export function multipartRanges(
  ranges: readonly ByteRange[],
  size: number,
  partType: string,
  boundary: string = randomBytes(16).toString("hex"),
): MultipartRanges {
  const heads = ranges.map((range, i) =>
    Buffer.from(
      `${i === 0 ? "" : "\r\n"}--${boundary}\r\n` +
        `Content-Type: ${partType}\r\n` +
        `Content-Range: bytes ${range.start}-${range.end}/${size}\r\n\r\n`,
    ),
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const bytes = ranges.reduce((sum, range) => sum + range.end - range.start + 1, 0);
  const length = heads.reduce((sum, head) => sum + head.byteLength, bytes + tail.byteLength);
  return { contentType: `multipart/byteranges; boundary=${boundary}`, heads, tail, length };
}
