import { isOciError, OciError } from "../../oci/errors.js";
import { parseAccept } from "../../oci/media-types.js";
import { parseReference, type Reference } from "../../oci/names.js";
import type { RequestContext } from "../context.js";
import { sendBytes } from "../respond.js";
import type { Target } from "./target.js";

/**
 * A reference that is not even a valid tag names nothing: for reads that is "unknown" (404),
 * as the conformance suite expects; a malformed digest stays a 400 DIGEST_INVALID.
 */
function readableReference(reference: string): Reference {
  try {
    return parseReference(reference);
  } catch (error) {
    if (isOciError(error) && error.code === "TAG_INVALID") {
      throw new OciError("MANIFEST_UNKNOWN", {
        message: "no such tag (not a valid tag)",
        detail: { reference },
      });
    }
    throw error;
  }
}

export async function getManifest(ctx: RequestContext, target: Target, reference: string): Promise<void> {
  const parsed = readableReference(reference);
  const method = ctx.method === "HEAD" ? "HEAD" : "GET";
  const content = await target.repository.getManifest(target.name, parsed, {
    method,
    accept: parseAccept(ctx.req.headers.accept),
  });
  ctx.cache = content.cache;
  ctx.servedBy = content.servedBy;
  const headers = {
    "content-type": content.mediaType,
    "docker-content-digest": content.digest,
    etag: `"${content.digest}"`,
    "x-wharf-cache": content.cache,
    ...(content.cache === "stale"
      ? { warning: `110 wharf "Response is Stale: upstream failed (${sanitize(content.staleReason ?? "")})"` }
      : {}),
  };
  // A HEAD answered from an upstream HEAD has no bytes; its length is the upstream's.
  const body = content.bytes ?? Buffer.alloc(0);
  sendBytes(ctx, 200, body, { ...headers, "content-length": content.size });
}

/** Header values must stay on one line and inside the quoted string. */
function sanitize(text: string): string {
  return text.replace(/["\\\r\n]/g, " ").slice(0, 200);
}
