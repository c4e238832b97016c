import type { Logger } from "pino";
import type { ApiTokenRecord } from "./auth-store.js";
import type { Authenticator, NewApiToken } from "./authenticator.js";
import { isValidUserName } from "./htpasswd.js";
import { ACTIONS, type Scope } from "./rules.js";

/**
 * Managing users and API tokens, the same way from the CLI (`wharf user`, `wharf token`) and from
 * the admin API: the same checks, the same defaults, one audit event per change.
 */

/** A token made without scopes may do whatever its user may. */
export const ALL_SCOPES: readonly Scope[] = [{ repositories: ["*"], names: ["**"], actions: [...ACTIONS] }];

export const MIN_PASSWORD_LENGTH = 8;

export type TokenState = "active" | "expired" | "revoked";

export function tokenState(token: ApiTokenRecord, now: number): TokenState {
  if (token.revokedAt !== undefined) return "revoked";
  return token.expiresAt !== undefined && token.expiresAt <= now ? "expired" : "active";
}

/** A mistake in what was asked (a bad name, no such user): the caller says it back as it likes. */
export class AccountError extends Error {
  readonly kind: "invalid" | "unknown" | "conflict";

  constructor(kind: "invalid" | "unknown" | "conflict", message: string) {
    super(message);
    this.name = "AccountError";
    this.kind = kind;
  }
}

export interface UserChange {
  readonly name: string;
  readonly admin: boolean;
  readonly groups: readonly string[];
}

/** Creates a user or changes one, with a new password. `by` names who did it, for the audit log. */
export async function saveUser(
  authenticator: Authenticator,
  audit: Logger,
  user: UserChange,
  password: string,
  by: string | undefined,
): Promise<void> {
  if (!isValidUserName(user.name))
    throw new AccountError("invalid", `"${user.name}" is not a valid user name`);
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new AccountError("invalid", `passwords have at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  await authenticator.setPassword(user, password);
  audit.info(
    { event: "user.saved", user: user.name, admin: user.admin, groups: user.groups, ...(by ? { by } : {}) },
    "user saved",
  );
}

export async function deleteUser(
  authenticator: Authenticator,
  audit: Logger,
  name: string,
  by: string | undefined,
): Promise<void> {
  if (!(await authenticator.store.deleteUser(name))) throw new AccountError("unknown", `no user ${name}`);
  authenticator.forget();
  audit.info({ event: "user.deleted", user: name, ...(by ? { by } : {}) }, "user deleted");
}

/**
 * Refuses a change that would leave no administrator: the admin API must not lock a site out of
 * its own dashboard. The CLI does not ask: it runs on the host, where anything can be mended.
 */
export async function keepAnAdministrator(
  authenticator: Authenticator,
  name: string,
  staysAdmin: boolean,
): Promise<void> {
  if (staysAdmin) return;
  const admins = (await authenticator.store.listUsers()).filter((user) => user.admin);
  if (admins.length === 1 && admins[0]?.name === name) {
    throw new AccountError("conflict", `${name} is the last administrator`);
  }
}

export async function createToken(
  authenticator: Authenticator,
  audit: Logger,
  request: {
    user: string;
    description: string;
    scopes: readonly Scope[] | undefined;
    lifetimeMs: number | undefined;
  },
  by: string | undefined,
): Promise<NewApiToken> {
  if (!(await authenticator.store.getUser(request.user)))
    throw new AccountError("unknown", `no user ${request.user}`);
  const created = await authenticator.createApiToken(request.user, {
    description: request.description,
    scopes: request.scopes && request.scopes.length > 0 ? request.scopes : ALL_SCOPES,
    expiresAt: request.lifetimeMs === undefined ? undefined : Date.now() + request.lifetimeMs,
  });
  audit.info(
    {
      event: "token.created",
      user: request.user,
      token: created.record.id,
      scopes: created.record.scopes,
      expiresAt: created.record.expiresAt,
      ...(by ? { by } : {}),
    },
    "API token created",
  );
  return created;
}

export async function revokeToken(
  authenticator: Authenticator,
  audit: Logger,
  id: string,
  by: string | undefined,
): Promise<void> {
  if (!(await authenticator.revokeApiToken(id))) throw new AccountError("unknown", `no active token ${id}`);
  audit.info({ event: "token.revoked", token: id, ...(by ? { by } : {}) }, "API token revoked");
}
