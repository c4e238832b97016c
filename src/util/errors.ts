/**
 * What the stores and the repositories say went wrong, in their own words. They know nothing of
 * HTTP: `http/error-mapping.ts` alone turns these into the spec's codes, statuses and headers.
 * Each class has a stable `code` for logs and tests; `cause` keeps the underlying failure.
 */
export abstract class WharfError extends Error {
  abstract readonly code: string;
  /** Extra facts for the client's error body (`detail`): never a secret. */
  readonly detail: Readonly<Record<string, unknown>> | undefined;

  constructor(message: string, options: { detail?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.detail = options.detail;
  }
}

/** What kind of thing a request named. */
export type Missing = "blob" | "manifest" | "name" | "upload" | "repository";

/** The named thing is not here (a group then asks its next member). */
export class NotFoundError extends WharfError {
  readonly code = "NOT_FOUND";
  readonly what: Missing;
  /** Whether the message says more than "not found": otherwise clients hear the spec's own words. */
  readonly explained: boolean;

  constructor(
    what: Missing,
    detail: Record<string, unknown> = {},
    options: { message?: string; cause?: unknown } = {},
  ) {
    super(options.message ?? `${what} not found`, { detail, cause: options.cause });
    this.what = what;
    this.explained = options.message !== undefined;
  }
}

/** Content whose digest is not the one it was named by. */
export class DigestMismatchError extends WharfError {
  readonly code = "DIGEST_MISMATCH";
  readonly expected: string;
  readonly actual: string;

  constructor(expected: string, actual: string) {
    super(`content has digest ${actual}, expected ${expected}`, { detail: { expected, actual } });
    this.expected = expected;
    this.actual = actual;
  }
}

/** A chunk that does not continue an upload where it stands, or a second writer on one upload. */
export class UploadOutOfOrderError extends WharfError {
  readonly code = "UPLOAD_OUT_OF_ORDER";
  /** Bytes the upload holds: the client resumes from here. */
  readonly offset: number;

  constructor(offset: number, message: string) {
    super(message);
    this.offset = offset;
  }
}

/** A body that carried another number of bytes than it announced. */
export class SizeMismatchError extends WharfError {
  readonly code = "SIZE_MISMATCH";
}

/** Something over a configured or protocol limit (an upload past `uploads.max_size`, a huge manifest). */
export class TooLargeError extends WharfError {
  readonly code = "TOO_LARGE";
  readonly what: "upload" | "manifest";
  readonly limit: number;

  constructor(what: "upload" | "manifest", limit: number) {
    super(`${what === "upload" ? "uploads" : "manifests"} are limited to ${limit} bytes`, {
      detail: { limit },
    });
    this.what = what;
    this.limit = limit;
  }
}

/** A byte range that selects nothing of a blob of `size` bytes. */
export class RangeNotSatisfiableError extends WharfError {
  readonly code = "RANGE_NOT_SATISFIABLE";
  readonly size: number;

  constructor(size: number) {
    super("requested range not satisfiable");
    this.size = size;
  }
}

/** An operation this repository does not offer (pushes to a proxy, deletes switched off, schema 1). */
export class UnsupportedError extends WharfError {
  readonly code = "UNSUPPORTED";
}

/** A pushed manifest that names content the repository does not hold. */
export class MissingReferenceError extends WharfError {
  readonly code = "MISSING_REFERENCE";
}

/** Pushed content that cannot be accepted as it is (a manifest that does not parse, a bad digest). */
export class InvalidContentError extends WharfError {
  readonly code = "INVALID_CONTENT";
  readonly what: "manifest" | "digest";

  constructor(what: "manifest" | "digest", message: string, detail?: Record<string, unknown>) {
    super(message, detail === undefined ? {} : { detail });
    this.what = what;
  }
}

/** An upstream answered something wharf cannot use (an invalid manifest, a digest that does not match). */
export class BadUpstreamAnswerError extends WharfError {
  readonly code = "BAD_UPSTREAM_ANSWER";
}

/** Too much at once (a flood of logins): the caller should try again after `retryAfterSeconds`. */
export class OverloadedError extends WharfError {
  readonly code = "OVERLOADED";
  readonly retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export function isWharfError(error: unknown): error is WharfError {
  return error instanceof WharfError;
}
