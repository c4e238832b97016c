/** Bytes `start`..`end` (inclusive) of the object `from`. */
export interface ObjectRange {
  readonly from: string;
  readonly start: number;
  readonly end: number;
}

/** An object holding bytes `start` to `start + size` of the whole being composed. */
export interface Segment {
  readonly name: string;
  readonly start: number;
  readonly size: number;
}

/**
 * One part of a multipart upload: a server-side copy of one range of one segment, or bytes read
 * back from one or more segments and uploaded again (where the segments are too small to copy).
 */
export type PlannedPart =
  | ({ readonly kind: "copy" } & ObjectRange)
  | { readonly kind: "upload"; readonly pieces: readonly ObjectRange[]; readonly length: number };

export interface PartLimits {
  /** Every part but the last is at least this large (S3: 5 MiB). */
  readonly minPart: number;
  /** A copied part is at most this large (S3: 5 GiB). */
  readonly maxCopy: number;
  /** Parts per upload (S3: 10 000). */
  readonly maxParts: number;
}

/**
 * The parts that make contiguous segments (in order, from byte 0) one object, moving as few bytes
 * through wharf as the part rules allow. A stretch of segment from the current position to the
 * segment's end is copied on the server when it is large enough to be a part (or ends the whole);
 * otherwise the next `unit` bytes, across as many small segments as they span, are read back and
 * uploaded as one part, and copying resumes where that stops. `unit` grows past `minPart` only when
 * the whole is so large that parts of `minPart` would be too many.
 */
export function planParts(segments: readonly Segment[], limits: PartLimits): PlannedPart[] {
  const present = segments.filter((segment) => segment.size > 0);
  const total = present.reduce((sum, segment) => sum + segment.size, 0);
  const unit = Math.max(limits.minPart, Math.ceil(total / (limits.maxParts - 1)));
  const parts: PlannedPart[] = [];
  let index = 0;
  let position = 0;
  while (position < total) {
    let segment = present[index] as Segment;
    while (segment.start + segment.size <= position) segment = present[++index] as Segment;
    const segmentEnd = segment.start + segment.size;
    if (segmentEnd - position >= unit || segmentEnd === total) {
      parts.push(...copies(segment.name, position - segment.start, segmentEnd - position, limits.maxCopy));
      position = segmentEnd;
      continue;
    }
    const partEnd = Math.min(position + unit, total);
    const pieces: ObjectRange[] = [];
    for (let at = position, i = index; at < partEnd; i++) {
      const piece = present[i] as Segment;
      const end = Math.min(piece.start + piece.size, partEnd);
      pieces.push({ from: piece.name, start: at - piece.start, end: end - piece.start - 1 });
      at = end;
    }
    parts.push({ kind: "upload", pieces, length: partEnd - position });
    position = partEnd;
  }
  return parts;
}

/** Copies of `length` bytes of `from` from `offset`, in even parts no larger than `maxCopy`. */
function copies(from: string, offset: number, length: number, maxCopy: number): PlannedPart[] {
  const count = Math.ceil(length / maxCopy);
  const size = Math.ceil(length / count);
  const parts: PlannedPart[] = [];
  for (let start = offset; start < offset + length; start += size) {
    parts.push({ kind: "copy", from, start, end: Math.min(start + size, offset + length) - 1 });
  }
  return parts;
}
