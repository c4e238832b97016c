import type { Logger } from "pino";
import {
  AccountError,
  createToken,
  deleteUser,
  keepAnAdministrator,
  revokeToken,
  saveUser,
  tokenState,
} from "../../../auth/accounts.js";
import type { ApiTokenRecord, UserRecord } from "../../../auth/auth-store.js";
import type { Authenticator } from "../../../auth/authenticator.js";
import { generatePassword } from "../../../auth/passwords.js";
import { endpoint } from "../endpoint.js";
import { AdminError } from "../errors.js";
import {
  ApiToken,
  type ApiTokenBody,
  ApiTokenList,
  CreatedApiToken,
  NewApiToken,
  NewUser,
  SavedUser,
  type UserBody,
  UserList,
} from "../schemas.js";

const iso = (ms: number) => new Date(ms).toISOString();

function userBody(user: UserRecord): UserBody {
  return { name: user.name, admin: user.admin, groups: [...user.groups], createdAt: iso(user.createdAt) };
}

function tokenBody(token: ApiTokenRecord, now: number): ApiTokenBody {
  return {
    id: token.id,
    user: token.user,
    description: token.description,
    scopes: token.scopes.map((scope) => ({
      repositories: [...scope.repositories],
      names: [...scope.names],
      actions: [...scope.actions],
    })),
    state: tokenState(token, now),
    createdAt: iso(token.createdAt),
    expiresAt: token.expiresAt === undefined ? null : iso(token.expiresAt),
    revokedAt: token.revokedAt === undefined ? null : iso(token.revokedAt),
  };
}

/** What a refused account change means to the caller. */
async function asked<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof AccountError)) throw error;
    const code =
      error.kind === "invalid" ? "BAD_REQUEST" : error.kind === "unknown" ? "NOT_FOUND" : "CONFLICT";
    throw new AdminError(code, error.message);
  }
}

/** Users and API tokens, for administrators: what `wharf user` and `wharf token` do, over HTTP. */
export function accountEndpoints(services: { authenticator: Authenticator | undefined; audit: Logger }) {
  const { audit } = services;
  const authenticator = (): Authenticator => {
    if (!services.authenticator)
      throw new AdminError("NOT_FOUND", "authentication is off: wharf has no users");
    return services.authenticator;
  };
  return [
    endpoint({
      method: "GET",
      path: "/users",
      operationId: "listUsers",
      summary: "Every user",
      tag: "users",
      audience: "admin",
      response: UserList,
      handle: async () => ({ body: { users: (await authenticator().store.listUsers()).map(userBody) } }),
    }),
    endpoint({
      method: "POST",
      path: "/users",
      operationId: "saveUser",
      summary: "Create a user, or change one (its password, admin flag and groups)",
      tag: "users",
      audience: "admin",
      body: NewUser,
      status: 201,
      response: SavedUser,
      errors: [409],
      handle: async ({ body, caller }) => {
        const auth = authenticator();
        const password = body.password ?? generatePassword();
        await asked(async () => {
          await keepAnAdministrator(auth, body.name, body.admin);
          await saveUser(auth, audit, body, password, caller.identity.principal.name);
        });
        const saved = await auth.store.getUser(body.name);
        if (!saved) throw new AdminError("CONFLICT", `${body.name} was deleted meanwhile`);
        return { body: { user: userBody(saved), password: body.password === undefined ? password : null } };
      },
    }),
    endpoint({
      method: "DELETE",
      path: "/users/{name}",
      operationId: "deleteUser",
      summary: "Delete a user, its API tokens and its sessions",
      tag: "users",
      audience: "admin",
      response: UserList,
      errors: [409],
      handle: async ({ params, caller }) => {
        const auth = authenticator();
        const name = params.name as string;
        await asked(async () => {
          await keepAnAdministrator(auth, name, false);
          await deleteUser(auth, audit, name, caller.identity.principal.name);
        });
        return { body: { users: (await auth.store.listUsers()).map(userBody) } };
      },
    }),
    endpoint({
      method: "GET",
      path: "/tokens",
      operationId: "listTokens",
      summary: "Every API token, never its secret",
      tag: "tokens",
      audience: "admin",
      response: ApiTokenList,
      handle: async () => {
        const now = Date.now();
        return { body: { tokens: (await authenticator().store.listTokens()).map((t) => tokenBody(t, now)) } };
      },
    }),
    endpoint({
      method: "POST",
      path: "/tokens",
      operationId: "createToken",
      summary: "Create an API token for a user; its secret is in this answer only",
      tag: "tokens",
      audience: "admin",
      body: NewApiToken,
      status: 201,
      response: CreatedApiToken,
      handle: async ({ body, caller }) => {
        const created = await asked(() =>
          createToken(
            authenticator(),
            audit,
            {
              user: body.user,
              description: body.description,
              scopes: body.scopes,
              lifetimeMs: body.expiresInDays === undefined ? undefined : body.expiresInDays * 86_400_000,
            },
            caller.identity.principal.name,
          ),
        );
        return { body: { token: tokenBody(created.record, Date.now()), secret: created.secret } };
      },
    }),
    endpoint({
      method: "DELETE",
      path: "/tokens/{id}",
      operationId: "revokeToken",
      summary: "Revoke an API token: it and every registry token issued for it stop working at once",
      tag: "tokens",
      audience: "admin",
      response: ApiToken,
      handle: async ({ params, caller }) => {
        const auth = authenticator();
        const id = params.id as string;
        await asked(() => revokeToken(auth, audit, id, caller.identity.principal.name));
        const record = await auth.store.getToken(id);
        if (!record) throw new AdminError("NOT_FOUND", `no token ${id}`);
        return { body: tokenBody(record, Date.now()) };
      },
    }),
  ];
}
