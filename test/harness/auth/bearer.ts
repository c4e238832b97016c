import type { Credentials } from "../types.js";

export interface TokenRealm {
  realm: string;
  service: string;
}

/** The `Authorization` value of Basic credentials. */
export function basicAuthorization(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
}

/** The quoted parameters of a `WWW-Authenticate` challenge (realm, service, scope…). */
export function challengeParams(header: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const m of header.matchAll(/(\w+)="([^"]*)"/g)) params[m[1] as string] = m[2] as string;
  return params;
}

export interface TokenAnswer {
  status: number;
  /** The token, when the answer was a 200 carrying one. */
  token: string | undefined;
  body: string;
}

/**
 * GET realm?service=&scope=… the way a Docker client asks (Basic credentials or none), whatever
 * the answer: for tests of the token server itself, which must refuse some requests.
 */
export async function requestToken(
  realm: TokenRealm,
  scopes: string[],
  creds?: Credentials,
): Promise<TokenAnswer> {
  const url = new URL(realm.realm);
  url.searchParams.set("service", realm.service);
  for (const scope of scopes) url.searchParams.append("scope", scope);
  const headers: Record<string, string> = creds ? { authorization: basicAuthorization(creds) } : {};
  const res = await fetch(url, { headers });
  const body = await res.text();
  let token: string | undefined;
  if (res.status === 200) {
    const parsed = JSON.parse(body) as { token?: string; access_token?: string };
    token = parsed.token ?? parsed.access_token;
  }
  return { status: res.status, token, body };
}

/** A Bearer token the way a Docker client gets one (GET realm?service=&scope=…), for raw HTTP tests. */
export async function fetchToken(realm: TokenRealm, scopes: string[], creds?: Credentials): Promise<string> {
  const answer = await requestToken(realm, scopes, creds);
  if (answer.status !== 200)
    throw new Error(`token request to ${realm.realm} answered ${answer.status}: ${answer.body}`);
  if (!answer.token) throw new Error(`token response from ${realm.realm} has no token`);
  return answer.token;
}
