/** An inclusive byte range, as HTTP `Range` and `Content-Range` write it. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** A parsed `Range: bytes=…` request, not yet resolved against a size. */
export type RangeRequest =
  | { readonly kind: "from"; readonly start: number; readonly end?: number }
  | { readonly kind: "suffix"; readonly length: number }
  /** Well-formed but backwards (`bytes=500-0`): no byte can satisfy it. */
  | { readonly kind: "backwards" };

/**
 * Most ranges one request may ask for. More is a broken client or an attack (RFC 9110 §14.2 lets
 * a server reject it); lazy-pulling snapshotters ask for a handful at a time.
 */
export const MAX_RANGES = 100;

/**
 * Parses a `bytes=` header into its ranges, in the order asked. Undefined for anything else
 * (other units, bad syntax in any range): RFC 9110 lets a server ignore such a Range and send the
 * whole blob.
 */
export function parseRanges(header: string | undefined): RangeRequest[] | undefined {
  if (header === undefined) return undefined;
  const equals = header.indexOf("=");
  if (equals < 0 || header.slice(0, equals).trim().toLowerCase() !== "bytes") return undefined;
  // The list syntax of RFC 9110 §5.6.1 allows empty elements ("0-1, ,5-9").
  const specs = header
    .slice(equals + 1)
    .split(",")
    .filter((spec) => spec.trim() !== "");
  const ranges: RangeRequest[] = [];
  for (const spec of specs) {
    const range = parseSpec(spec);
    if (!range) return undefined;
    ranges.push(range);
  }
  return ranges.length > 0 ? ranges : undefined;
}

/** One `first-last` of a `bytes=` header. */
function parseSpec(spec: string): RangeRequest | undefined {
  // Split by hand rather than one regex: adjacent optional whitespace groups backtrack quadratically.
  const dash = spec.indexOf("-");
  if (dash < 0) return undefined;
  const first = spec.slice(0, dash).trim();
  const last = spec.slice(dash + 1).trim();
  if (!/^\d*$/.test(first) || !/^\d*$/.test(last) || (first === "" && last === "")) return undefined;
  if (first === "") return { kind: "suffix", length: Number(last) };
  const start = Number(first);
  if (last === "") return { kind: "from", start };
  const end = Number(last);
  // RFC 9110 lets a server ignore this, but registries answer 416 and conformance suites expect it.
  return end < start ? { kind: "backwards" } : { kind: "from", start, end };
}

/** The bytes a range selects from a blob of `size`, or "unsatisfiable" (HTTP 416). */
export function resolveRange(request: RangeRequest, size: number): ByteRange | "unsatisfiable" {
  if (request.kind === "backwards") return "unsatisfiable";
  if (request.kind === "suffix") {
    if (request.length === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - request.length), end: size - 1 };
  }
  if (request.start >= size) return "unsatisfiable";
  return { start: request.start, end: Math.min(request.end ?? size - 1, size - 1) };
}

/**
 * What several ranges select from a blob of `size`: the satisfiable ones, in the order asked
 * (the others are dropped, as RFC 9110 §15.3.7 says); "unsatisfiable" when none is, or when more
 * than MAX_RANGES were asked for; "whole" when they add up to more than the blob (overlaps, which
 * the RFC lets a server ignore rather than send bytes many times over, as Go's file server does).
 */
export function resolveRanges(
  requests: readonly RangeRequest[],
  size: number,
): ByteRange[] | "unsatisfiable" | "whole" {
  if (requests.length > MAX_RANGES) return "unsatisfiable";
  const ranges: ByteRange[] = [];
  let total = 0;
  for (const request of requests) {
    const range = resolveRange(request, size);
    if (range === "unsatisfiable") continue;
    ranges.push(range);
    total += range.end - range.start + 1;
  }
  if (ranges.length === 0) return "unsatisfiable";
  return total > size ? "whole" : ranges;
}

/** A resolved range as a request again, for whoever serves one range at a time. */
export function asRangeRequest(range: ByteRange): RangeRequest {
  return { kind: "from", start: range.start, end: range.end };
}

/** The `Range` header that asks another server for `request`; undefined when nothing can satisfy it. */
export function rangeHeader(request: RangeRequest): string | undefined {
  if (request.kind === "backwards") return undefined;
  if (request.kind === "suffix") return `bytes=-${request.length}`;
  return `bytes=${request.start}-${request.end ?? ""}`;
}

/**
 * The `Content-Range` of a 206 answer (`bytes <start>-<end>/<size>`): which bytes came, out of how
 * many. Undefined for anything else, an unknown size (`/*`) included: a range of an unknown
 * whole cannot be checked against the blob later.
 */
export function parseAnsweredRange(
  header: string | undefined,
): { range: ByteRange; size: number } | undefined {
  const match = /^bytes (\d{1,15})-(\d{1,15})\/(\d{1,15})$/.exec(header?.trim() ?? "");
  if (!match) return undefined;
  const [start, end, size] = [Number(match[1]), Number(match[2]), Number(match[3])];
  return start <= end && end < size ? { range: { start, end }, size } : undefined;
}

/**
 * The `Content-Range` of an upload chunk. The spec writes it `<start>-<end>` (inclusive);
 * `bytes <start>-<end>/<total>` as in HTTP responses is accepted too. Undefined when absent,
 * "invalid" when present but unreadable.
 */
export function parseContentRange(header: string | undefined): ByteRange | "invalid" | undefined {
  if (header === undefined || header.trim() === "") return undefined;
  const match = /^(?:bytes )?(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?$/.exec(header.trim());
  if (!match) return "invalid";
  const start = Number(match[1]);
  const end = Number(match[2]);
  return end < start ? "invalid" : { start, end };
}
