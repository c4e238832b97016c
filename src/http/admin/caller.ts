import { timingSafeEqual } from "node:crypto";
import type { Action } from "../../auth/rules.js";
import type { LiveSession, Sessions } from "../../auth/sessions.js";
import type { AccessPolicy, Identity } from "../access.js";
import type { RequestContext } from "../context.js";
import { cookieValues } from "./cookies.js";
import { AdminError } from "./errors.js";

export const SESSION_COOKIE = "wharf_session";
export const CSRF_HEADER = "x-csrf-token";

/** Who called the admin API, and with what. */
export interface AdminCaller {
  readonly identity: Identity;
  readonly via: "anonymous" | "session" | "basic" | "bearer";
  readonly session?: LiveSession;
  /** Everything is allowed: the administrator, or a wharf without authentication. */
  readonly admin: boolean;
  /** The access rules' answer for one image. */
  allows(repository: string, name: string, action: Action): boolean;
  /** What the rules grant in a repository for some name, and for every name. */
  reach(repository: string): { some: ReadonlySet<Action>; all: ReadonlySet<Action> };
}

/**
 * Whether a bearer token speaks for its subject here: registry tokens are scoped to images, and a
 * pull token handed to a CI job must not become the right to delete through the admin API. Only a
 * token with `registry:catalog:*` (what `/token` grants any user who asks) does.
 */
function tokenCoversApi(identity: Identity): boolean {
  return (identity.granted ?? []).some(
    (entry) => entry.type === "registry" && entry.name === "catalog" && entry.actions.includes("*"),
  );
}

function same(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.byteLength === right.byteLength && timingSafeEqual(left, right);
}

/**
 * Turns a request into a caller: an `Authorization` header as on the registry API (Basic with a
 * password or API token, or a registry token), else the session cookie, else anonymous.
 */
export async function identifyCaller(
  ctx: RequestContext,
  access: AccessPolicy,
  sessions: Sessions | undefined,
): Promise<AdminCaller> {
  const make = (identity: Identity, via: AdminCaller["via"], session?: LiveSession): AdminCaller => ({
    identity,
    via,
    ...(session ? { session } : {}),
    admin: !access.enabled || identity.principal.admin,
    allows: (repository, name, action) => access.allows(identity, repository, name, action),
    reach: (repository) => access.reach(identity, repository),
  });
  if (ctx.header("authorization") !== undefined && access.enabled) {
    const identity = await access.identify(ctx);
    if (identity.via === "bearer" && !tokenCoversApi(identity)) {
      throw new AdminError(
        "UNAUTHORIZED",
        "this token is scoped to images: ask /token for registry:catalog:*",
      );
    }
    return make(identity, identity.via);
  }
  for (const secret of sessions ? cookieValues(ctx.header("cookie"), SESSION_COOKIE) : []) {
    const session = await sessions?.resolve(secret);
    if (session) return make({ principal: session.principal, via: "session" }, "session", session);
  }
  return make(await access.identify(ctx), "anonymous");
}

/** `scheme://host` of the request as the browser addressed it. */
function originOf(ctx: RequestContext): string | undefined {
  const host = ctx.header("host");
  if (host === undefined) return undefined;
  const scheme = (ctx.req.socket as { encrypted?: boolean }).encrypted ? "https" : "http";
  return `${scheme}://${host}`;
}

/**
 * Cross-site request forgery, for every request that changes something: a browser sends the
 * session cookie with any request to this host, so a page elsewhere must not be able to make one.
 * SameSite=Strict already keeps the cookie off cross-site requests; on top of that a request
 * whose `Origin` (or `Sec-Fetch-Site`) says it came from another site is refused whoever makes
 * it, and one authenticated by the cookie must carry the session's CSRF token in `X-CSRF-Token`,
 * which only a page of this origin can read (from `GET /api/v1/session`).
 */
export function checkCrossSite(ctx: RequestContext, caller: AdminCaller): void {
  const origin = ctx.header("origin");
  if (origin !== undefined && origin !== originOf(ctx)) {
    throw new AdminError("FORBIDDEN", "cross-origin request refused", { origin });
  }
  const site = ctx.header("sec-fetch-site");
  if (site !== undefined && site !== "same-origin" && site !== "none") {
    throw new AdminError("FORBIDDEN", "cross-site request refused", { site });
  }
  if (caller.via !== "session") return;
  const token = ctx.header(CSRF_HEADER);
  if (token === undefined || !caller.session || !same(token, caller.session.csrfToken)) {
    throw new AdminError(
      "FORBIDDEN",
      `a request made with the session cookie needs its ${CSRF_HEADER} header`,
    );
  }
}
