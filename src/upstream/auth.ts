import { type Dispatcher, request } from "undici";
import type { TokenCache } from "../coordination/token-cache.js";
import { SingleFlight } from "../util/single-flight.js";
import { type Challenge, parseChallenges } from "./challenge.js";
import { UpstreamError } from "./errors.js";

export interface UpstreamCredentials {
  readonly username: string;
  readonly password: string;
}

interface FetchedToken {
  readonly value: string;
  /** How long to keep it: its lifetime less a margin. */
  readonly keepMs: number;
}

/** Tokens without `expires_in` live 60 s, as the token spec says. */
const DEFAULT_TOKEN_SECONDS = 60;

/** Told of every token request: its status (undefined when none came) and how long it took. */
export type TokenRequestObserver = (status: number | undefined, seconds: number) => void;

/**
 * The registry auth flows an upstream may ask for: none, Basic, or Docker's Bearer token
 * (challenge → realm → token). Tokens are kept per scope in a TokenCache until shortly before
 * they expire, and concurrent requests for the same scope share one token request.
 */
export class UpstreamAuth {
  readonly #upstream: string;
  readonly #credentials: UpstreamCredentials | undefined;
  readonly #dispatcher: Dispatcher;
  readonly #tokens: TokenCache;
  readonly #fetching = new SingleFlight<string>();
  readonly #observe: TokenRequestObserver;
  #challenge: Challenge | undefined;
  #tokenRequests = 0;

  constructor(
    upstream: string,
    credentials: UpstreamCredentials | undefined,
    dispatcher: Dispatcher,
    tokens: TokenCache,
    observe: TokenRequestObserver = () => {},
  ) {
    this.#upstream = upstream;
    this.#credentials = credentials;
    this.#dispatcher = dispatcher;
    this.#tokens = tokens;
    this.#observe = observe;
  }

  get tokenRequests(): number {
    return this.#tokenRequests;
  }

  /** The Authorization header for a request that needs `scope`, from what the upstream has said so far. */
  async authorization(scope: string): Promise<string | undefined> {
    const challenge = this.#challenge;
    if (challenge?.scheme === "bearer") return `Bearer ${await this.#token(challenge, scope)}`;
    if (challenge?.scheme === "basic" && this.#credentials) return this.#basic(this.#credentials);
    return undefined;
  }

  /**
   * Learns the upstream's scheme from a 401. Returns true when a retry can do better than the
   * request that was refused; false when the refusal stands (e.g. the token we had was rejected).
   */
  async learn(
    wwwAuthenticate: string | string[] | undefined,
    scope: string,
    hadAuthorization: boolean,
  ): Promise<boolean> {
    const challenges = parseChallenges(wwwAuthenticate);
    const chosen =
      challenges.find((c) => c.scheme === "bearer" && c.params.realm) ??
      challenges.find((c) => c.scheme === "basic");
    if (!chosen) return false;
    const schemeChanged = chosen.scheme !== this.#challenge?.scheme;
    this.#challenge = chosen;
    // Only a token that was sent can have been refused: one another node put in a shared cache
    // stays, however this node learnt the scheme.
    if (hadAuthorization) await this.#tokens.delete(scope);
    if (chosen.scheme === "basic")
      return this.#credentials !== undefined && (schemeChanged || !hadAuthorization);
    return schemeChanged || !hadAuthorization;
  }

  #basic(credentials: UpstreamCredentials): string {
    return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
  }

  async #token(challenge: Challenge, scope: string): Promise<string> {
    return (
      (await this.#tokens.get(scope)) ??
      this.#fetching.run(scope, async () => {
        // A request that missed the cache just before another one filled it finds the token here.
        const cached = await this.#tokens.get(scope);
        if (cached !== undefined) return cached;
        const token = await this.#fetchToken(challenge, scope);
        await this.#tokens.put(scope, token.value, token.keepMs);
        return token.value;
      })
    );
  }

  async #fetchToken(challenge: Challenge, scope: string): Promise<FetchedToken> {
    const realm = new URL(challenge.params.realm as string);
    if (realm.protocol !== "https:" && realm.protocol !== "http:") {
      throw new UpstreamError("invalid", `token realm ${realm.protocol} is not http(s)`, {
        upstream: this.#upstream,
      });
    }
    if (challenge.params.service) realm.searchParams.set("service", challenge.params.service);
    realm.searchParams.set("scope", scope);
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.#credentials) headers.authorization = this.#basic(this.#credentials);
    this.#tokenRequests++;
    let response: Dispatcher.ResponseData;
    const started = performance.now();
    try {
      response = await request(realm, { method: "GET", headers, dispatcher: this.#dispatcher });
      this.#observe(response.statusCode, (performance.now() - started) / 1000);
    } catch (cause) {
      this.#observe(undefined, (performance.now() - started) / 1000);
      throw new UpstreamError("unavailable", `token service ${realm.host} unreachable`, {
        upstream: this.#upstream,
        cause,
      });
    }
    if (response.statusCode !== 200) {
      await response.body.dump();
      const kind =
        response.statusCode === 401 || response.statusCode === 403 ? "unauthorized" : "unavailable";
      throw new UpstreamError(kind, `token service ${realm.host} answered ${response.statusCode}`, {
        upstream: this.#upstream,
        status: response.statusCode,
      });
    }
    const body = (await response.body.json()) as {
      token?: unknown;
      access_token?: unknown;
      expires_in?: unknown;
    };
    const value = typeof body.token === "string" ? body.token : body.access_token;
    if (typeof value !== "string" || value.length === 0) {
      throw new UpstreamError("invalid", `token service ${realm.host} sent no token`, {
        upstream: this.#upstream,
      });
    }
    const lifetime =
      typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    // Renew a little early so a token never expires between our check and the upstream's.
    const margin = Math.min(30, lifetime * 0.1);
    return { value, keepMs: (lifetime - margin) * 1000 };
  }
}
