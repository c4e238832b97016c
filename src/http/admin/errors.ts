/** The admin API's own refusals; domain errors from below http/ go through `error-mapping.ts` as anywhere. */
export const ADMIN_ERRORS = Object.freeze({
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  UNSUPPORTED_MEDIA_TYPE: 415,
} as const);

export type AdminErrorCode = keyof typeof ADMIN_ERRORS;

/** A request the admin API refuses, rendered in the registry's envelope with its own status. */
export class AdminError extends Error {
  readonly code: AdminErrorCode;
  readonly status: number;
  readonly detail: unknown;

  constructor(code: AdminErrorCode, message: string, detail?: unknown) {
    super(message);
    this.name = "AdminError";
    this.code = code;
    this.status = ADMIN_ERRORS[code];
    this.detail = detail;
  }

  toJSON(): { errors: Array<{ code: string; message: string; detail?: unknown }> } {
    return {
      errors: [
        {
          code: this.code,
          message: this.message,
          ...(this.detail === undefined ? {} : { detail: this.detail }),
        },
      ],
    };
  }
}
