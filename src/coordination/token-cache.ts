import { type Clock, systemClock } from "../util/clock.js";

/**
 * The Bearer tokens one upstream's token service handed out, per scope
 * (`repository:library/busybox:pull`), kept until shortly before they expire so that pulls do
 * not each cost a token request. Nodes reading the same upstream may share one cache. Async, so
 * a shared store can stand behind it; expiry follows the implementation's clock.
 */
export interface TokenCache {
  /** The token for `scope`, or undefined when there is none or it is too old to send. */
  get(scope: string): Promise<string | undefined>;
  /** Keeps `token` for `scope` during `lifetimeMs` (the caller has already taken its margin off). */
  put(scope: string, token: string, lifetimeMs: number): Promise<void>;
  /** Forgets the token for `scope`: the upstream refused it. */
  delete(scope: string): Promise<void>;
}

/** The tokens of one upstream, in this process alone. */
export class LocalTokenCache implements TokenCache {
  readonly #clock: Clock;
  readonly #tokens = new Map<string, { value: string; expiresAt: number }>();

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  async get(scope: string): Promise<string | undefined> {
    const cached = this.#tokens.get(scope);
    return cached && cached.expiresAt > this.#clock.now() ? cached.value : undefined;
  }

  async put(scope: string, token: string, lifetimeMs: number): Promise<void> {
    this.#tokens.set(scope, { value: token, expiresAt: this.#clock.now() + lifetimeMs });
  }

  async delete(scope: string): Promise<void> {
    this.#tokens.delete(scope);
  }
}
