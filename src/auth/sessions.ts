import { createHash, randomBytes } from "node:crypto";
import { type Clock, systemClock } from "../util/clock.js";
import type { AuthStore, SessionRecord } from "./auth-store.js";
import { principalOf } from "./authenticator.js";
import type { Principal } from "./rules.js";

/** A session unused this long ends. */
export const SESSION_IDLE_MS = 12 * 3_600_000;
/** However often it is used, a session ends this long after the login. */
export const SESSION_MAX_AGE_MS = 7 * 24 * 3_600_000;
/** Use moves the end forward only when it would move by more than this: not a write per request. */
const EXTEND_STEP_MS = 60_000;

const SECRET = /^[A-Za-z0-9_-]{43}$/;

function hashOf(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export interface OpenedSession {
  /** The cookie's value: shown to the browser once, stored only as a hash. */
  readonly secret: string;
  readonly csrfToken: string;
  readonly expiresAt: number;
}

export interface LiveSession {
  readonly principal: Principal;
  readonly csrfToken: string;
  readonly expiresAt: number;
}

/**
 * Browser logins for the dashboard. A session is a random secret in an HttpOnly cookie; the store
 * keeps its hash, the user it stands for and a CSRF token, in the auth database beside users and
 * API tokens (so it survives restarts and ends with its user). The user is looked up on every
 * use, so a deletion or a change of the admin flag takes effect at once.
 */
export class Sessions {
  readonly #store: AuthStore;
  readonly #clock: Clock;

  constructor(store: AuthStore, clock: Clock = systemClock) {
    this.#store = store;
    this.#clock = clock;
  }

  async open(user: string): Promise<OpenedSession> {
    const now = this.#clock.now();
    const secret = randomBytes(32).toString("base64url");
    const record: SessionRecord = {
      idHash: hashOf(secret),
      user,
      csrfToken: randomBytes(32).toString("base64url"),
      createdAt: now,
      expiresAt: now + SESSION_IDLE_MS,
    };
    await this.#store.createSession(record);
    // Ended sessions go when new ones come: the table never holds more than a day's logins plus the live ones.
    await this.#store.purgeSessions(now);
    return { secret, csrfToken: record.csrfToken, expiresAt: record.expiresAt };
  }

  /** The session a cookie names, while it lasts and its user exists; its use extends it. */
  async resolve(secret: string): Promise<LiveSession | undefined> {
    if (!SECRET.test(secret)) return undefined;
    const idHash = hashOf(secret);
    const record = await this.#store.getSession(idHash);
    const now = this.#clock.now();
    if (!record || record.expiresAt <= now) return undefined;
    const user = await this.#store.getUser(record.user);
    if (!user) return undefined;
    const end = Math.min(now + SESSION_IDLE_MS, record.createdAt + SESSION_MAX_AGE_MS);
    let expiresAt = record.expiresAt;
    if (end - record.expiresAt > EXTEND_STEP_MS && (await this.#store.extendSession(idHash, end))) {
      expiresAt = end;
    }
    return { principal: principalOf(user), csrfToken: record.csrfToken, expiresAt };
  }

  /** Ends the session a cookie names; true when there was one. */
  async close(secret: string): Promise<boolean> {
    return SECRET.test(secret) && this.#store.deleteSession(hashOf(secret));
  }
}
