import type { Logger } from "pino";
import type { Authenticator } from "../auth/authenticator.js";
import { ACTIONS, type AccessRules, type Action, ANONYMOUS, type Principal } from "../auth/rules.js";
import type { AccessEntry, TokenSigner } from "../auth/token-signer.js";
import { OciError } from "../oci/errors.js";
import { holdersOf, type Repository } from "../repos/repository.js";
import type { RequestContext } from "./context.js";

/** Who made a request and how they proved it. */
export interface Identity {
  readonly principal: Principal;
  /** `session`: the dashboard's cookie (the admin API only). */
  readonly via: "anonymous" | "basic" | "bearer" | "session";
  /** What a bearer token grants; a request needs its scope here as well as in the rules. */
  readonly granted?: readonly AccessEntry[];
}

/** What a request wants to do, in the words of the client's token scope. */
export interface AccessRequest {
  /** The name as the client wrote it: the scope in its token. */
  readonly clientName: string;
  readonly action: Action;
  /**
   * Routed by containerd's `?ns=`. A token request names the image but never the `ns` the pull
   * will carry, so a token's scope cannot speak for such a request: the rules alone decide it.
   */
  readonly byNamespace?: boolean;
  /**
   * Further scopes the token a challenge leads to should carry: a mount's source, so that a client
   * following the challenge comes back with the right to read where it mounts from.
   */
  readonly alsoScopes?: readonly string[];
}

/** Decides who may do what; the registry API asks it before every repository access. */
export interface AccessPolicy {
  readonly enabled: boolean;
  identify(ctx: RequestContext): Promise<Identity>;
  /** Throws 401 (with a challenge) or 403 unless the rules `permitted` it and the identity's token covers it. */
  require(ctx: RequestContext, identity: Identity, request: AccessRequest, permitted: boolean): void;
  /** The rules' answer alone: for filtering what a listing or a group shows. */
  allows(identity: Identity, repository: string, name: string, action: Action): boolean;
  /** What the rules grant in `repository` for some name and for every name (see `AccessRules.reach`). */
  reach(identity: Identity, repository: string): { some: Set<Action>; all: Set<Action> };
  /** The 401 for a request that must authenticate first (e.g. `GET /v2/` without credentials). */
  challenge(ctx: RequestContext): OciError;
}

const OPEN_IDENTITY: Identity = { principal: ANONYMOUS, via: "anonymous" };

/** No authentication configured: everyone may do everything (a private network's cache). */
export const OPEN_ACCESS: AccessPolicy = {
  enabled: false,
  identify: async () => OPEN_IDENTITY,
  require: () => {},
  allows: () => true,
  reach: () => ({ some: new Set(ACTIONS), all: new Set(ACTIONS) }),
  challenge: () => new OciError("UNAUTHORIZED"),
};

/** The scope string of Docker's token protocol: `repository:<name>:<actions>`. */
export function scopeOf(request: Pick<AccessRequest, "clientName" | "action">): string {
  const actions = request.action === "push" ? "pull,push" : request.action;
  return `repository:${request.clientName}:${actions}`;
}

/** Where refused logins are told: the audit log, and whoever counts them (metrics, the activity log). */
export interface LoginAudit {
  readonly audit: Logger;
  readonly loginRefused?: (via: "basic" | "token" | "session", user: string | undefined) => void;
}

/**
 * A refused login, whichever way it came (Basic on a registry request, the token endpoint, the
 * dashboard's login): one audit event.
 */
export function auditLoginRefused(
  sink: LoginAudit,
  ctx: RequestContext,
  user: string | undefined,
  via: "basic" | "token" | "session",
): void {
  sink.audit.warn(
    { event: "login.failure", user, remote: ctx.req.socket.remoteAddress, via },
    "login refused",
  );
  sink.loginRefused?.(via, user);
}

/** The user name and password of a `Basic` credential (the part after the scheme). */
export function decodeBasic(value: string): { username: string; password: string } | undefined {
  const decoded = Buffer.from(value, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export interface TokenAccessOptions extends LoginAudit {
  readonly authenticator: Authenticator;
  readonly signer: TokenSigner;
  readonly rules: AccessRules;
  readonly service: string;
  /** A fixed token realm; by default the one clients can reach: the scheme and host they used. */
  readonly realm: string | undefined;
}

/**
 * Docker's registry token protocol: requests carry a bearer token from `/token` (or Basic
 * credentials), and a request that may not proceed gets a 401 whose `WWW-Authenticate` says
 * where to get a token with the right scope, or a 403 when the user is known but not allowed.
 */
export class TokenAccess implements AccessPolicy {
  readonly enabled = true;
  readonly #options: TokenAccessOptions;

  constructor(options: TokenAccessOptions) {
    this.#options = options;
  }

  realmFor(ctx: RequestContext): string {
    if (this.#options.realm) return this.#options.realm;
    const scheme = (ctx.req.socket as { encrypted?: boolean }).encrypted ? "https" : "http";
    return `${scheme}://${ctx.header("host") ?? "localhost"}/token`;
  }

  async identify(ctx: RequestContext): Promise<Identity> {
    const header = ctx.header("authorization") ?? "";
    const space = header.indexOf(" ");
    const scheme = header.slice(0, space).toLowerCase();
    const value = header.slice(space + 1).trim();
    if (header === "") return OPEN_IDENTITY;
    if (scheme === "bearer") {
      try {
        const claims = await this.#options.signer.verify(value);
        const principal =
          claims.subject === ""
            ? ANONYMOUS
            : await this.#options.authenticator.forSubject(claims.subject, claims.apiToken);
        if (principal) return { principal, via: "bearer", granted: claims.access };
      } catch {
        // Expired, forged or foreign: the same answer as no token, a fresh challenge.
      }
      throw this.#unauthorized(ctx, undefined, "invalid or expired token");
    }
    const credentials = scheme === "basic" ? decodeBasic(value) : undefined;
    const principal = credentials
      ? await this.#options.authenticator.check(credentials.username, credentials.password)
      : undefined;
    if (!principal) {
      auditLoginRefused(this.#options, ctx, credentials?.username, "basic");
      throw this.#unauthorized(ctx, undefined, "wrong user name or password");
    }
    return { principal, via: "basic" };
  }

  allows(identity: Identity, repository: string, name: string, action: Action): boolean {
    return this.#options.rules.allows(identity.principal, repository, name, action);
  }

  reach(identity: Identity, repository: string): { some: Set<Action>; all: Set<Action> } {
    return this.#options.rules.reach(identity.principal, repository);
  }

  #grants(identity: Identity, request: AccessRequest, permitted: boolean): boolean {
    if (!permitted) return false;
    return identity.via !== "bearer" || request.byNamespace === true || this.#tokenGrants(identity, request);
  }

  require(ctx: RequestContext, identity: Identity, request: AccessRequest, permitted: boolean): void {
    if (this.#grants(identity, request, permitted)) return;
    // Anonymous clients, and tokens that lack the scope, are told where to get the right token;
    // a known user the rules refuse is told no.
    if (!permitted && identity.principal.name !== undefined) {
      throw new OciError("DENIED", { detail: { name: request.clientName, action: request.action } });
    }
    const scopes = [scopeOf(request), ...(request.alsoScopes ?? [])].join(" ");
    throw this.#unauthorized(ctx, scopes, "authentication required");
  }

  challenge(ctx: RequestContext): OciError {
    return this.#unauthorized(ctx, undefined, "authentication required");
  }

  #tokenGrants(identity: Identity, request: AccessRequest): boolean {
    const wanted = request.action;
    return (identity.granted ?? []).some(
      (entry) =>
        entry.type === "repository" &&
        entry.name === request.clientName &&
        (entry.actions.includes(wanted) || entry.actions.includes("*")),
    );
  }

  #unauthorized(ctx: RequestContext, scope: string | undefined, message: string): OciError {
    const realm = this.realmFor(ctx);
    const params = [
      `realm="${realm}"`,
      `service="${this.#options.service}"`,
      ...(scope ? [`scope="${scope}"`] : []),
    ];
    return new OciError("UNAUTHORIZED", {
      message,
      headers: { "www-authenticate": `Bearer ${params.join(",")}` },
    });
  }
}

/**
 * The repository the rules are asked about: the one named for reads, and for writes the one that
 * takes them (a group's hosted member), so pushing through a group needs the right to push there.
 */
export function rulesRepository(repository: Repository, action: Action): string {
  return action === "pull" ? repository.name : (repository.writer?.name ?? repository.name);
}

/**
 * Whether the rules let this identity do `action` with `name` in `repository`. Reading a group
 * means reading some member it reaches (a group's content is its members' content, each under
 * its own rules); writing means writing where the group sends writes.
 */
export function permits(
  allows: (repository: string, name: string, action: Action) => boolean,
  repository: Repository,
  name: string,
  action: Action,
): boolean {
  if (action === "pull") return holdersOf(repository).some((holder) => allows(holder.name, name, "pull"));
  return allows(rulesRepository(repository, action), name, action);
}
