import { isOciError, OciError, type OciErrorCode } from "../oci/errors.js";
import { UpstreamError } from "../upstream/errors.js";
import {
  BadUpstreamAnswerError,
  DigestMismatchError,
  InvalidContentError,
  type Missing,
  MissingReferenceError,
  NotFoundError,
  OverloadedError,
  RangeNotSatisfiableError,
  SizeMismatchError,
  TooLargeError,
  UnsupportedError,
  UploadOutOfOrderError,
} from "../util/errors.js";

const NOT_FOUND_CODES: Readonly<Record<Missing, OciErrorCode>> = {
  blob: "BLOB_UNKNOWN",
  manifest: "MANIFEST_UNKNOWN",
  name: "NAME_UNKNOWN",
  upload: "BLOB_UPLOAD_UNKNOWN",
  repository: "NAME_UNKNOWN",
};

/** The spec's `Range: 0-<last byte>` for an upload of `offset` bytes (`0-0` when empty). */
export function uploadRangeHeader(offset: number): string {
  return `0-${Math.max(0, offset - 1)}`;
}

/**
 * The one place where what went wrong becomes what the client hears: an OCI code, its status and
 * any header the spec asks for. Errors that are not wharf's own (a bug, a disk failure) come back
 * undefined: the caller logs them and answers 500.
 */
export function toOciError(error: unknown): OciError | undefined {
  if (isOciError(error)) return error;
  const options = (message: string | undefined, detail?: unknown) => ({
    ...(message === undefined ? {} : { message }),
    ...(detail === undefined ? {} : { detail }),
    cause: error,
  });
  if (error instanceof NotFoundError)
    return new OciError(
      NOT_FOUND_CODES[error.what],
      options(error.explained ? error.message : undefined, error.detail),
    );
  if (error instanceof DigestMismatchError)
    return new OciError("DIGEST_INVALID", options(error.message, error.detail));
  if (error instanceof UploadOutOfOrderError) {
    return new OciError("BLOB_UPLOAD_INVALID", {
      ...options(error.message),
      status: 416,
      headers: { range: uploadRangeHeader(error.offset) },
    });
  }
  if (error instanceof SizeMismatchError)
    return new OciError("SIZE_INVALID", options(error.message, error.detail));
  if (error instanceof TooLargeError) {
    const code = error.what === "manifest" ? "MANIFEST_INVALID" : "SIZE_INVALID";
    return new OciError(code, { ...options(error.message, error.detail), status: 413 });
  }
  if (error instanceof RangeNotSatisfiableError) {
    return new OciError("RANGE_INVALID", {
      ...options(error.message),
      headers: { "content-range": `bytes */${error.size}` },
    });
  }
  if (error instanceof UnsupportedError)
    return new OciError("UNSUPPORTED", options(error.message, error.detail));
  if (error instanceof MissingReferenceError)
    return new OciError("MANIFEST_BLOB_UNKNOWN", options(error.message, error.detail));
  if (error instanceof InvalidContentError) {
    return new OciError(
      error.what === "manifest" ? "MANIFEST_INVALID" : "DIGEST_INVALID",
      options(error.message, error.detail),
    );
  }
  if (error instanceof OverloadedError) {
    return new OciError("TOOMANYREQUESTS", {
      ...options(error.message),
      headers: { "retry-after": String(error.retryAfterSeconds) },
    });
  }
  if (error instanceof BadUpstreamAnswerError)
    return new OciError("UNKNOWN", { ...options(error.message, error.detail), status: 502 });
  if (error instanceof UpstreamError) return upstreamToOci(error);
  return undefined;
}

/**
 * An upstream failure that no cached copy could stand in for. A 429 keeps its meaning and its
 * Retry-After, so clients back off as Docker Hub asked; an outage is a 503 (dockerd and containerd
 * then try their next mirror or the registry itself).
 */
function upstreamToOci(error: UpstreamError): OciError {
  const detail = { upstream: error.upstream, reason: error.message };
  switch (error.kind) {
    case "not-found":
    case "unauthorized":
      // Repositories say which content was missing; one that did not is answered generically.
      return new OciError("NAME_UNKNOWN", { message: "not found upstream", detail, cause: error });
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
