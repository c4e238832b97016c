import { OciError, type OciErrorCode } from "../oci/errors.js";
import { UpstreamError } from "../upstream/errors.js";

/**
 * Turns an upstream failure into what the client hears when no cached copy can stand in.
 * A 429 keeps its meaning and its Retry-After, so clients back off as Docker Hub asked; an
 * outage is a 503 (dockerd and containerd then try their next mirror or the registry itself).
 */
export function upstreamToOci(error: unknown, unknownCode: OciErrorCode): unknown {
  if (!(error instanceof UpstreamError)) return error;
  const detail = { upstream: error.upstream, reason: error.message };
  switch (error.kind) {
    case "not-found":
      return new OciError(unknownCode, { detail, cause: error });
    case "unauthorized":
      // The upstream refused wharf's credentials or the repository is private there: for the
      // client, the content is simply not available here.
      return new OciError(unknownCode, { message: "upstream refused access", detail, cause: error });
    case "rate-limited":
      return new OciError("TOOMANYREQUESTS", {
        message: "upstream rate limit reached and the content is not cached",
        detail,
        headers: { "retry-after": String(error.retryAfterSeconds ?? 60) },
        cause: error,
      });
    case "unavailable":
      return new OciError("UNAVAILABLE", {
        message: "upstream unavailable and the content is not cached",
        detail,
        cause: error,
      });
    case "invalid":
      return new OciError("UNKNOWN", {
        status: 502,
        message: "upstream sent an unusable answer",
        detail,
        cause: error,
      });
  }
}
