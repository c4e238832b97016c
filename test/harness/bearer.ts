import type { Credentials } from "./types.js";

export interface TokenRealm {
  realm: string;
  service: string;
}

/** A Bearer token the way a Docker client gets one (GET realm?service=&scope=…), for raw HTTP tests. */
export async function fetchToken(realm: TokenRealm, scopes: string[], creds?: Credentials): Promise<string> {
  const url = new URL(realm.realm);
  url.searchParams.set("service", realm.service);
  for (const scope of scopes) url.searchParams.append("scope", scope);
  const headers: Record<string, string> = {};
  if (creds)
    headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
  const res = await fetch(url, { headers });
  if (res.status !== 200) throw new Error(`token request ${url} answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new Error(`token response from ${url} has no token`);
  return token;
}
