import type { AuthServices } from "../auth/setup.js";
import type { RepositoryRouter } from "../repos/router.js";
import { type AccessPolicy, type LoginAudit, TokenAccess } from "./access.js";
import type { SideRoute } from "./server.js";
import { tokenEndpoint } from "./token-endpoint.js";

/** The registry's access policy when authentication is configured. */
export function tokenAccess(auth: AuthServices, audit: LoginAudit): AccessPolicy {
  return new TokenAccess({
    authenticator: auth.authenticator,
    signer: auth.signer,
    rules: auth.rules,
    service: auth.config.service,
    realm: auth.config.realm,
    ...audit,
  });
}

/** `/token`, answering GET (Docker's token protocol) and POST (the OAuth2 password grant). */
export function tokenRoute(auth: AuthServices, router: RepositoryRouter, audit: LoginAudit): SideRoute {
  return {
    methods: ["GET", "POST"],
    handle: tokenEndpoint({
      authenticator: auth.authenticator,
      signer: auth.signer,
      rules: auth.rules,
      router,
      service: auth.config.service,
      ttlSeconds: Math.max(1, Math.round(auth.config.token_ttl / 1000)),
      ...audit,
    }),
  };
}
