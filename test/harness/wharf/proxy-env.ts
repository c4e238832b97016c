import type { Credentials } from "../types.js";

export interface ProxyEnvOptions {
  /** REGISTRY_PROXY_USERNAME / REGISTRY_PROXY_PASSWORD. */
  creds?: Credentials;
  /** WHARF_TAG_TTL, e.g. "3s" or "0"; wharf's default when absent. */
  tagTtl?: string;
}

/**
 * The registry:v2 environment (`docker run -e REGISTRY_PROXY_REMOTEURL=…`) that makes wharf a
 * pull-through cache of `upstreamUrl`, the way a user switching from registry:v2 would start it.
 */
export function proxyEnv(upstreamUrl: string, opts: ProxyEnvOptions = {}): Record<string, string> {
  return {
    REGISTRY_PROXY_REMOTEURL: upstreamUrl,
    ...(opts.creds
      ? { REGISTRY_PROXY_USERNAME: opts.creds.username, REGISTRY_PROXY_PASSWORD: opts.creds.password }
      : {}),
    ...(opts.tagTtl === undefined ? {} : { WHARF_TAG_TTL: opts.tagTtl }),
  };
}
