import type { OutgoingHttpHeaders } from "node:http";
import { parseDigest } from "../../oci/digest.js";
import { parseRange } from "../../oci/range.js";
import type { BlobContent } from "../../repos/repository.js";
import type { RequestContext } from "../context.js";
import { sendBody, sendEmpty } from "../respond.js";
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
  const content = await target.repository.openBlob(target.name, digest, parseRange(ctx.header("range")));
  ctx.cache = content.cache;
  ctx.servedBy = content.servedBy;
  await sendBlob(ctx, digest, content);
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
