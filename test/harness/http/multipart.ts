/** One part of a `multipart/byteranges` body: its Content-Range and bytes. */
export interface RangePart {
  readonly contentRange: string;
  readonly bytes: Buffer;
}

/**
 * The parts of a `multipart/byteranges` answer, read by its boundary and each part's
 * Content-Range (so the byte count comes from the range, not from searching the bytes).
 * Throws when the body does not frame its parts as RFC 9110 §14.6 says.
 */
export function rangeParts(contentType: string | undefined, body: Buffer): RangePart[] {
  const boundary = /^multipart\/byteranges;\s*boundary="?([^";]+)"?$/i.exec(contentType ?? "")?.[1];
  if (!boundary) throw new Error(`not multipart/byteranges: ${contentType}`);
  const parts: RangePart[] = [];
  let at = body.indexOf(`--${boundary}`);
  if (at < 0) throw new Error("no first delimiter");
  for (;;) {
    at += boundary.length + 2;
    if (body.subarray(at, at + 2).toString() === "--") return parts;
    const headersEnd = body.indexOf("\r\n\r\n", at);
    if (headersEnd < 0) throw new Error("a part without the end of its headers");
    const headers = body.subarray(at, headersEnd).toString().split("\r\n").filter(Boolean);
    const contentRange = headers.find((h) => /^content-range:/i.test(h))?.replace(/^content-range:\s*/i, "");
    const match = /^bytes (\d+)-(\d+)\/\d+$/.exec(contentRange ?? "");
    if (!contentRange || !match) throw new Error(`a part without a Content-Range: ${headers.join(" | ")}`);
    const start = headersEnd + 4;
    const end = start + Number(match[2]) - Number(match[1]) + 1;
    parts.push({ contentRange, bytes: body.subarray(start, end) });
    if (body.subarray(end, end + 4 + boundary.length).toString() !== `\r\n--${boundary}`)
      throw new Error(`part ${parts.length} is not followed by a delimiter`);
    at = end + 2;
  }
}
