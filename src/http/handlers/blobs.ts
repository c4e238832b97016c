import type { OutgoingHttpHeaders } from "node:http";
import { parseDigest } from "../../oci/digest.js";
import { parseRange } from "../../oci/range.js";
import type { BlobContent } from "../../repos/repository.js";
import type { RequestContext } from "../context.js";
import { sendEmpty, sendStream } from "../respond.js";
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
  const { size, cache } = await target.repository.statBlob(target.name, digest);
  ctx.cache = cache;
  sendEmpty(ctx, 200, { ...blobHeaders(digest, size), "x-wharf-cache": cache });
}

export async function getBlob(ctx: RequestContext, target: Target, digest: string): Promise<void> {
  parseDigest(digest);
  const content = await target.repository.openBlob(target.name, digest, parseRange(ctx.header("range")));
  ctx.cache = content.cache;
  await sendBlob(ctx, digest, content);
}

async function sendBlob(ctx: RequestContext, digest: string, content: BlobContent): Promise<void> {
  const { range, size } = content;
  const headers = { ...blobHeaders(digest, size), "x-wharf-cache": content.cache };
  if (range && size !== undefined) {
    const length = range.end - range.start + 1;
    await sendStream(
      ctx,
      206,
      { ...headers, "content-length": length, "content-range": `bytes ${range.start}-${range.end}/${size}` },
      content.stream,
      length,
    );
    return;
  }
  await sendStream(ctx, 200, headers, content.stream, size);
}
