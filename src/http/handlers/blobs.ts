import type { OutgoingHttpHeaders } from "node:http";
import { parseDigest } from "../../oci/digest.js";
import {
  asRangeRequest,
  type ByteRange,
  parseRanges,
  type RangeRequest,
  resolveRanges,
} from "../../oci/range.js";
import type { BlobContent } from "../../repos/repository.js";
import { RangeNotSatisfiableError } from "../../util/errors.js";
import type { RequestContext } from "../context.js";
import { multipartRanges } from "../multipart-ranges.js";
import { type BodyPart, sendBody, sendEmpty, sendParts } from "../respond.js";
import type { Target } from "./target.js";

function blobHeaders(digest: string, size: number | undefined): OutgoingHttpHeaders {
  return {
    "content-type": "application/octet-stream",
    "docker-content-digest": digest,
    etag: `"${digest}"`,
    "accept-ranges": "bytes",
    // Content addressed: the bytes behind a digest never change.
    "cache-control": "max-age=31536000, immutable",
    ...(size === undefined ? {} : { "content-length": size }),
  };
}

export async function headBlob(ctx: RequestContext, target: Target, digest: string): Promise<void> {
  parseDigest(digest);
  const { size, cache, servedBy } = await target.repository.statBlob(target.name, digest);
  ctx.cache = cache;
  ctx.servedBy = servedBy;
  sendEmpty(ctx, 200, { ...blobHeaders(digest, size), "x-wharf-cache": cache });
}

export async function getBlob(ctx: RequestContext, target: Target, digest: string): Promise<void> {
  parseDigest(digest);
  const ranges = parseRanges(ctx.header("range"));
  if (ranges !== undefined && ranges.length > 1) {
    await getBlobRanges(ctx, target, digest, ranges);
    return;
  }
  await openAndSend(ctx, target, digest, ranges?.[0]);
}

async function openAndSend(
  ctx: RequestContext,
  target: Target,
  digest: string,
  range: RangeRequest | undefined,
): Promise<void> {
  const content = await target.repository.openBlob(target.name, digest, range);
  ctx.cache = content.cache;
  ctx.servedBy = content.servedBy;
  await sendBlob(ctx, digest, content);
}

/**
 * Several ranges in one request (what stargz's fetcher sends for the chunks it needs): a
 * `multipart/byteranges` 206 whose parts are each opened like a single range when their turn
 * comes, so a blob not cached yet is answered at once from its download or ranged requests
 * upstream, never by waiting for the whole blob. The size comes first (HEAD), to frame the parts.
 */
async function getBlobRanges(
  ctx: RequestContext,
  target: Target,
  digest: string,
  requests: readonly RangeRequest[],
): Promise<void> {
  const { size } = await target.repository.statBlob(target.name, digest);
  // Without a size the parts cannot be framed: the first range alone is an answer RFC 9110 allows.
  if (size === undefined) return openAndSend(ctx, target, digest, requests[0]);
  const ranges = resolveRanges(requests, size);
  if (ranges === "unsatisfiable") throw new RangeNotSatisfiableError(size);
  if (ranges === "whole") return openAndSend(ctx, target, digest, undefined);
  const first = ranges[0] as ByteRange;
  if (ranges.length === 1) return openAndSend(ctx, target, digest, asRangeRequest(first));
  const opened = await target.repository.openBlob(target.name, digest, asRangeRequest(first));
  ctx.cache = opened.cache;
  ctx.servedBy = opened.servedBy;
  const { body } = opened;
  // A store that hands out URLs answers every range there; the client asks it with its own Range.
  if (body.kind === "redirect") return sendBlob(ctx, digest, opened);
  const headers = blobHeaders(digest, undefined);
  const framing = multipartRanges(ranges, size, String(headers["content-type"]));
  const bodyOf = async (range: ByteRange) => {
    const content = await target.repository.openBlob(target.name, digest, asRangeRequest(range));
    if (content.body.kind === "redirect") throw new Error("the store redirected one range of several");
    return content.body;
  };
  const parts: BodyPart[] = ranges.flatMap((range, i): BodyPart[] => [
    framing.heads[i] as Buffer,
    { length: range.end - range.start + 1, open: i === 0 ? async () => body : () => bodyOf(range) },
  ]);
  try {
    await sendParts(
      ctx,
      206,
      { ...headers, "content-type": framing.contentType, "x-wharf-cache": opened.cache },
      [...parts, framing.tail],
      framing.length,
    );
  } finally {
    body.release();
  }
}

/** Answers a blob GET from its content: the bytes (whole or the requested range), or a redirect to them. */
async function sendBlob(ctx: RequestContext, digest: string, content: BlobContent): Promise<void> {
  const { range, size, body } = content;
  const headers = { ...blobHeaders(digest, size), "x-wharf-cache": content.cache };
  if (body.kind === "redirect") {
    // The client asks there with its own Range, if it sent one.
    sendEmpty(ctx, 307, {
      location: body.url,
      "docker-content-digest": digest,
      "x-wharf-cache": content.cache,
    });
    return;
  }
  if (range && size !== undefined) {
    const length = range.end - range.start + 1;
    await sendBody(
      ctx,
      206,
      { ...headers, "content-length": length, "content-range": `bytes ${range.start}-${range.end}/${size}` },
      body,
      length,
    );
    return;
  }
  await sendBody(ctx, 200, headers, body, size);
}
