import type { Authenticator } from "../auth/authenticator.js";
import { ACTIONS, type AccessRules, type Action, ANONYMOUS, type Principal } from "../auth/rules.js";
import type { AccessEntry, TokenSigner } from "../auth/token-signer.js";
import { isValidName } from "../oci/names.js";
import type { RepositoryRouter } from "../repos/router.js";
import { readCapped } from "../util/read-capped.js";
import { auditLoginRefused, decodeBasic, type LoginAudit, permits } from "./access.js";
import type { RequestContext } from "./context.js";
import { sendJson } from "./respond.js";

export interface TokenEndpointOptions extends LoginAudit {
  readonly authenticator: Authenticator;
  readonly signer: TokenSigner;
  readonly rules: AccessRules;
  readonly router: RepositoryRouter;
  readonly service: string;
  readonly ttlSeconds: number;
}

interface TokenRequest {
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly scopes: readonly string[];
}

function oauthError(ctx: RequestContext, status: number, error: string, description: string): void {
  sendJson(ctx, status, {
    error,
    error_description: description,
    errors: [{ code: "UNAUTHORIZED", message: description }],
  });
}

async function readForm(ctx: RequestContext): Promise<URLSearchParams> {
  const body = await readCapped(ctx.req, 64 * 1024, () => new Error("token request body too large"));
  return new URLSearchParams(body.toString("utf8"));
}

/** GET with Basic credentials (Docker's token protocol), or POST with the OAuth2 password grant. */
async function tokenRequestOf(ctx: RequestContext): Promise<TokenRequest | "unsupported-grant"> {
  const scopes = (list: string[]) =>
    list.flatMap((scope) => scope.split(" ")).filter((scope) => scope !== "");
  if (ctx.method === "POST") {
    const form = await readForm(ctx);
    if (form.get("grant_type") !== "password") return "unsupported-grant";
    return {
      username: form.get("username") ?? undefined,
      password: form.get("password") ?? undefined,
      scopes: scopes(form.getAll("scope")),
    };
  }
  const basic = /^basic\s+(.+)$/i.exec(ctx.header("authorization") ?? "");
  const credentials = basic ? decodeBasic(basic[1] as string) : undefined;
  return {
    username: credentials?.username,
    password: credentials?.password,
    scopes: scopes(ctx.query.getAll("scope")),
  };
}

/**
 * `/token`: Docker's registry token service. Credentials are optional (anonymous clients get
 * what anonymous may do); each requested scope is narrowed to what the rules grant that
 * principal, and the JWT carries only that.
 */
export function tokenEndpoint(options: TokenEndpointOptions) {
  const grantedActions = (
    ctx: RequestContext,
    principal: Principal,
    scope: string,
  ): AccessEntry | undefined => {
    const [type, ...rest] = scope.split(":");
    const requested = (rest.pop() ?? "").split(",").filter((a) => a !== "");
    const name = rest.join(":");
    if (type === "registry" && name === "catalog") {
      return principal.name === undefined ? undefined : { type, name, actions: ["*"] };
    }
    if (type !== "repository" || !isValidName(name)) return undefined;
    let routed: ReturnType<RepositoryRouter["resolve"]>;
    try {
      routed = options.router.resolve({
        name,
        ...(ctx.listener.boundRepository === undefined
          ? {}
          : { boundRepository: ctx.listener.boundRepository }),
      });
    } catch {
      return undefined;
    }
    const wanted: Action[] = requested.includes("*")
      ? [...ACTIONS]
      : (requested.filter((a) => (ACTIONS as readonly string[]).includes(a)) as Action[]);
    const allows = (repository: string, image: string, action: Action) =>
      options.rules.allows(principal, repository, image, action);
    const actions = wanted.filter((action) => permits(allows, routed.repository, routed.name, action));
    return actions.length === 0 ? undefined : { type, name, actions };
  };

  return async (ctx: RequestContext): Promise<void> => {
    const request = await tokenRequestOf(ctx);
    if (request === "unsupported-grant") {
      oauthError(ctx, 400, "unsupported_grant_type", "only the password grant is supported");
      return;
    }
    let principal: Principal = ANONYMOUS;
    if (request.username !== undefined) {
      const checked = await options.authenticator.check(request.username, request.password ?? "");
      if (!checked) {
        auditLoginRefused(options, ctx, request.username, "token");
        ctx.res.setHeader("www-authenticate", `Basic realm="${options.service}"`);
        oauthError(ctx, 401, "invalid_grant", "wrong user name or password");
        return;
      }
      principal = checked;
      const remote = ctx.req.socket.remoteAddress;
      options.audit.info({ event: "login.success", user: request.username, remote, via: "token" }, "login");
    }
    const access = request.scopes.flatMap((scope) => {
      const granted = grantedActions(ctx, principal, scope);
      return granted ? [granted] : [];
    });
    const token = await options.signer.sign(
      {
        subject: principal.name ?? "",
        access,
        ...(principal.apiToken === undefined ? {} : { apiToken: principal.apiToken }),
      },
      options.ttlSeconds,
    );
    sendJson(ctx, 200, {
      token,
      access_token: token,
      expires_in: options.ttlSeconds,
      issued_at: new Date().toISOString(),
      ...(ctx.method === "POST" ? { scope: request.scopes.join(" ") } : {}),
    });
  };
}
