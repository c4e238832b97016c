import { type RawOptions, type RawResponse, rawRequest } from "../http/requests.js";
import type { Credentials } from "../types.js";
import { challengeParams, requestToken, type TokenRealm } from "./bearer.js";

// Raw HTTP through Docker's token protocol, step by step as docker and containerd do it: probe
// /v2/ for the realm, get a token for the scope the operation needs (with credentials or
// anonymously), send the request with it, and on a 401 that names another scope fetch one more
// token and retry once. The final answer is what the client would report.

export interface Challenge extends TokenRealm {
  /** The scope the registry asked for, when it named one. */
  scope: string | undefined;
}

/** The Bearer challenge of a 401, or undefined when there is none. */
export function bearerChallenge(res: RawResponse): Challenge | undefined {
  const header = res.headers["www-authenticate"];
  if (typeof header !== "string" || !/^bearer /i.test(header)) return undefined;
  const params = challengeParams(header);
  return { realm: params.realm ?? "", service: params.service ?? "", scope: params.scope };
}

/** The scope string a client asks for before `action` on `name`. */
export function repositoryScope(name: string, action: "pull" | "push" | "delete"): string {
  return `repository:${name}:${action === "push" ? "pull,push" : action}`;
}

export interface TokenFlowOptions extends RawOptions {
  /** Sent Basic to the token endpoint; none asks for an anonymous token. */
  creds?: Credentials;
  /** The scopes asked for up front (see repositoryScope()); a mount also names its source's. */
  scopes: string[];
  /** Sees every token issued, e.g. to look for it in logs later. */
  onToken?: (token: string) => void;
}

export interface TokenFlowResult extends RawResponse {
  /** The token endpoint's status when it refused (wrong password): the request was never sent. */
  tokenStatus: number;
}

/** One registry request made the way a client makes it through the token protocol. */
export async function tokenFlowRequest(
  base: string,
  path: string,
  opts: TokenFlowOptions,
): Promise<TokenFlowResult> {
  const probe = await rawRequest(base, "/v2/");
  const realm = bearerChallenge(probe);
  if (!realm) throw new Error(`GET /v2/ answered ${probe.status} without a Bearer challenge`);
  let scopes = opts.scopes;
  for (let attempt = 0; ; attempt++) {
    const answer = await requestToken(realm, scopes, opts.creds);
    if (!answer.token)
      return {
        status: answer.status,
        headers: {},
        body: Buffer.from(answer.body),
        tokenStatus: answer.status,
      };
    opts.onToken?.(answer.token);
    const res = await rawRequest(base, path, {
      ...opts,
      headers: { ...opts.headers, authorization: `Bearer ${answer.token}` },
    });
    const challenge = bearerChallenge(res);
    if (res.status !== 401 || attempt > 0 || !challenge?.scope || scopes.includes(challenge.scope))
      return { ...res, tokenStatus: answer.status };
    scopes = [...scopes, challenge.scope];
  }
}
