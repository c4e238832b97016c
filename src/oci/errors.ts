/**
 * The registry's error vocabulary: one frozen table from code to HTTP status and message, the
 * way distribution's errcode registry works, so a status is never chosen at a call site.
 * Codes marked "spec" are the OCI distribution-spec's; the rest are distribution's extensions,
 * which docker, containerd and containers/image all understand.
 */
export const OCI_ERROR_CODES = Object.freeze({
  BLOB_UNKNOWN: { status: 404, message: "blob unknown to registry", spec: true },
  BLOB_UPLOAD_INVALID: { status: 400, message: "blob upload invalid", spec: true },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: "blob upload unknown to registry", spec: true },
  DIGEST_INVALID: { status: 400, message: "provided digest did not match uploaded content", spec: true },
  MANIFEST_BLOB_UNKNOWN: {
    status: 400,
    message: "manifest references a manifest or blob unknown to registry",
    spec: true,
  },
  MANIFEST_INVALID: { status: 400, message: "manifest invalid", spec: true },
  MANIFEST_UNKNOWN: { status: 404, message: "manifest unknown to registry", spec: true },
  NAME_INVALID: { status: 400, message: "invalid repository name", spec: true },
  NAME_UNKNOWN: { status: 404, message: "repository name not known to registry", spec: true },
  SIZE_INVALID: { status: 400, message: "provided length did not match content length", spec: true },
  UNAUTHORIZED: { status: 401, message: "authentication required", spec: true },
  DENIED: { status: 403, message: "requested access to the resource is denied", spec: true },
  UNSUPPORTED: { status: 405, message: "the operation is unsupported", spec: true },
  TOOMANYREQUESTS: { status: 429, message: "too many requests", spec: true },
  TAG_INVALID: { status: 400, message: "manifest tag did not match URI", spec: false },
  RANGE_INVALID: { status: 416, message: "invalid content range", spec: false },
  PAGINATION_NUMBER_INVALID: { status: 400, message: "invalid number of results requested", spec: false },
  UNAVAILABLE: { status: 503, message: "service unavailable", spec: false },
  UNKNOWN: { status: 500, message: "unknown error", spec: false },
} as const);

export type OciErrorCode = keyof typeof OCI_ERROR_CODES;

export interface OciErrorOptions {
  message?: string;
  detail?: unknown;
  /** Overrides the table's status where the spec names another one for this code (e.g. 416 on uploads). */
  status?: number;
  headers?: Record<string, string>;
  cause?: unknown;
}

/** An error that the HTTP edge renders as the spec's `{"errors":[…]}` body. */
export class OciError extends Error {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: OciErrorCode, options: OciErrorOptions = {}) {
    super(options.message ?? OCI_ERROR_CODES[code].message, { cause: options.cause });
    this.name = "OciError";
    this.code = code;
    this.status = options.status ?? OCI_ERROR_CODES[code].status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  toJSON(): { errors: Array<{ code: string; message: string; detail?: unknown }> } {
    const entry: { code: string; message: string; detail?: unknown } = {
      code: this.code,
      message: this.message,
    };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

export function isOciError(error: unknown): error is OciError {
  return error instanceof OciError;
}
