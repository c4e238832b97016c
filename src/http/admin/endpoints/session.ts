import type { Logger } from "pino";
import { SESSION_MAX_AGE_MS, type Sessions } from "../../../auth/sessions.js";
import type { AuthServices } from "../../../auth/setup.js";
import { auditLoginRefused, type LoginAudit } from "../../access.js";
import type { RequestContext } from "../../context.js";
import { type AdminCaller, SESSION_COOKIE } from "../caller.js";
import { cookieValues, sessionCookie } from "../cookies.js";
import { endpoint } from "../endpoint.js";
import { AdminError } from "../errors.js";
import { Caller, type CallerBody, LoginRequest } from "../schemas.js";

export interface SessionServices {
  readonly auth: AuthServices | undefined;
  readonly sessions: Sessions | undefined;
  readonly audit: Logger;
  /** Where a refused login is told (the audit log, the metrics, the activity log). */
  readonly logins: LoginAudit;
}

function tls(ctx: RequestContext): boolean {
  return (ctx.req.socket as { encrypted?: boolean }).encrypted === true;
}

function describe(caller: AdminCaller, authEnabled: boolean): CallerBody {
  return {
    user: caller.identity.principal.name ?? null,
    admin: caller.admin,
    via: caller.via,
    authEnabled,
    ...(caller.session
      ? {
          csrfToken: caller.session.csrfToken,
          sessionExpiresAt: new Date(caller.session.expiresAt).toISOString(),
        }
      : {}),
  };
}

/** Logging in and out of the dashboard, and who the caller is. */
export function sessionEndpoints(services: SessionServices) {
  const authEnabled = services.auth !== undefined;
  return [
    endpoint({
      method: "GET",
      path: "/session",
      operationId: "getSession",
      summary: "Who is calling, and the session's CSRF token",
      tag: "session",
      audience: "anyone",
      response: Caller,
      handle: async ({ caller }) => ({ body: describe(caller, authEnabled) }),
    }),
    endpoint({
      method: "POST",
      path: "/session",
      operationId: "login",
      summary: "Log in with a user's password: sets the HttpOnly session cookie",
      tag: "session",
      audience: "anyone",
      body: LoginRequest,
      response: Caller,
      errors: [429],
      handle: async ({ ctx, body }) => {
        const { auth, sessions } = services;
        if (!auth || !sessions)
          throw new AdminError("NOT_FOUND", "authentication is off: there is nothing to log in to");
        const principal = await auth.authenticator.check(body.username, body.password);
        // A session stands for its user: an API token's narrower scopes would be lost in it.
        if (!principal || principal.apiToken !== undefined) {
          auditLoginRefused(services.logins, ctx, body.username, "session");
          throw new AdminError("UNAUTHORIZED", "wrong user name or password");
        }
        const opened = await sessions.open(body.username);
        const remote = ctx.req.socket.remoteAddress;
        services.audit.info({ event: "login.success", user: body.username, remote, via: "session" }, "login");
        const cookie = sessionCookie(SESSION_COOKIE, opened.secret, {
          maxAge: SESSION_MAX_AGE_MS / 1000,
          secure: tls(ctx),
        });
        return {
          body: {
            user: body.username,
            admin: principal.admin,
            via: "session" as const,
            authEnabled,
            csrfToken: opened.csrfToken,
            sessionExpiresAt: new Date(opened.expiresAt).toISOString(),
          },
          headers: { "set-cookie": cookie },
        };
      },
    }),
    endpoint({
      method: "DELETE",
      path: "/session",
      operationId: "logout",
      summary: "Log out: ends the session and clears its cookie",
      tag: "session",
      audience: "anyone",
      response: Caller,
      handle: async ({ ctx }) => {
        for (const secret of cookieValues(ctx.header("cookie"), SESSION_COOKIE))
          await services.sessions?.close(secret);
        const cleared = sessionCookie(SESSION_COOKIE, "", { maxAge: 0, secure: tls(ctx) });
        return {
          body: { user: null, admin: !authEnabled, via: "anonymous" as const, authEnabled },
          headers: { "set-cookie": cleared },
        };
      },
    }),
  ];
}
