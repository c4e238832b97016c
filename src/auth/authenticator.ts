import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { SingleFlight } from "../util/single-flight.js";
import type { ApiTokenRecord, AuthStore, UserRecord } from "./auth-store.js";
import { hashPassword, verifyNoPassword, verifyPassword } from "./passwords.js";
import type { Principal, Scope } from "./rules.js";

/** API tokens read `wharf_<id>_<secret>`: the id finds the record, the secret proves possession. */
const API_TOKEN = /^wharf_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/**
 * A successful check, and who a registry token's subject is, are remembered this long: scrypt is
 * slow by design, clients send Basic on every request, and a warm pull with a token should read no
 * database. Changes made through this process drop both at once (`forget`), and so does any
 * change the store can tell of (`AuthStore.version`: with SQLite, every write, this process's or
 * another's, so `wharf token revoke` beside a server takes effect at the next request); this
 * bound is for the changes nothing announces (another node's, whose message was lost).
 */
const CACHE_MS = 10_000;
/** Subjects remembered at once; past that, all are forgotten (each costs two indexed reads again). */
const MAX_SUBJECTS = 10_000;

export interface AuthenticatorOptions {
  /** Told whenever this process changed users or tokens, for other nodes' caches (coordination's invalidations). */
  readonly changed?: () => void;
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

export function principalOf(user: UserRecord, token?: ApiTokenRecord): Principal {
  return {
    name: user.name,
    admin: user.admin,
    groups: user.groups,
    ...(token ? { scopes: token.scopes, apiToken: token.id } : {}),
  };
}

interface CheckedCredentials {
  readonly principal: Principal | undefined;
  /** When the credentials stop being valid on their own (an API token's expiry). */
  readonly expiresAt: number | undefined;
}

export interface NewApiToken {
  readonly record: ApiTokenRecord;
  /** The token to hand to the robot: shown once, never stored. */
  readonly secret: string;
}

/**
 * Turns credentials into principals: a user's password (scrypt, or bcrypt from htpasswd) or an
 * API token used as the password. Never logs or keeps a secret; remembers only a digest of
 * recently accepted credentials.
 */
export class Authenticator {
  readonly #store: AuthStore;
  readonly #checking = new SingleFlight<CheckedCredentials | undefined>();
  /** Accepted credentials by digest, until the cache or the credentials themselves expire. */
  readonly #recent = new Map<string, { principal: Principal; until: number }>();
  /** Who registry tokens' subjects are, by subject and API token, until the cache or the API token expires. */
  readonly #subjects = new Map<string, { principal: Principal | undefined; until: number }>();
  readonly #options: AuthenticatorOptions;
  #version: number | undefined;
  /** Moves whenever everything is forgotten: a lookup that read across that is not kept. */
  #generation = 0;

  constructor(store: AuthStore, options: AuthenticatorOptions = {}) {
    this.#store = store;
    this.#options = options;
    this.#version = store.version?.();
  }

  /** Forgets everything remembered when the store changed since the last look (see AuthStore.version). */
  #seeOutsideChanges(): void {
    const version = this.#store.version?.();
    if (version === this.#version) return;
    this.#version = version;
    this.#clear();
  }

  get store(): AuthStore {
    return this.#store;
  }

  /** The principal for `username`/`password`, or undefined when they do not match. */
  async check(username: string, password: string, now = Date.now()): Promise<Principal | undefined> {
    const key = sha256(`${username}\u0000${password}`).toString("base64");
    this.#seeOutsideChanges();
    const recent = this.#recent.get(key);
    if (recent && recent.until > now) return recent.principal;
    const generation = this.#generation;
    // Concurrent requests with the same credentials (a CI fleet sharing a robot) share one check.
    const checked = await this.#checking.run(key, async () =>
      API_TOKEN.test(password)
        ? this.#fromApiToken(username, password, now)
        : { principal: await this.#fromPassword(username, password), expiresAt: undefined },
    );
    const principal = checked?.principal;
    if (principal && generation === this.#generation) {
      const until = Math.min(now + CACHE_MS, checked.expiresAt ?? Number.POSITIVE_INFINITY);
      this.#recent.set(key, { principal, until });
    }
    if (this.#recent.size > 10_000) this.#recent.clear();
    return principal;
  }

  async #fromPassword(username: string, password: string): Promise<Principal | undefined> {
    const user = await this.#store.getUser(username);
    if (!user) return verifyNoPassword(password).then(() => undefined);
    return (await verifyPassword(password, user.passwordHash)) ? principalOf(user) : undefined;
  }

  async #fromApiToken(username: string, token: string, now: number): Promise<CheckedCredentials | undefined> {
    const [, id, secret] = API_TOKEN.exec(token) as unknown as [string, string, string];
    const record = await this.#liveToken(id, now);
    if (!record) return undefined;
    const expected = Buffer.from(record.secretHash, "hex");
    if (!timingSafeEqual(expected, sha256(secret))) return undefined;
    // The user name must be the token's owner (any name would do, but a mismatch is a mistake worth refusing).
    if (username !== record.user) return undefined;
    const user = await this.#store.getUser(record.user);
    return user ? { principal: principalOf(user, record), expiresAt: record.expiresAt } : undefined;
  }

  async #liveToken(id: string, now: number): Promise<ApiTokenRecord | undefined> {
    const record = await this.#store.getToken(id);
    if (!record || record.revokedAt !== undefined) return undefined;
    if (record.expiresAt !== undefined && record.expiresAt <= now) return undefined;
    return record;
  }

  /**
   * The principal a registry token's subject stands for now: a deleted user stands for nobody,
   * and a token issued for an API token lives only as long as that API token. Remembered like a
   * Basic check (see CACHE_MS), so deletions and revocations take effect at once when made through
   * this process or (SQLite) by another one, and within CACHE_MS otherwise.
   */
  async forSubject(subject: string, apiToken?: string, now = Date.now()): Promise<Principal | undefined> {
    if (subject === "") return undefined;
    this.#seeOutsideChanges();
    const key = `${subject}\u0000${apiToken ?? ""}`;
    const remembered = this.#subjects.get(key);
    if (remembered && remembered.until > now) return remembered.principal;
    const generation = this.#generation;
    const record = apiToken === undefined ? undefined : await this.#liveToken(apiToken, now);
    let principal: Principal | undefined;
    if (apiToken === undefined || record?.user === subject) {
      const user = await this.#store.getUser(subject);
      principal = user ? principalOf(user, record) : undefined;
    }
    // Not kept when something was forgotten meanwhile: it may be what was read.
    if (generation === this.#generation) {
      if (this.#subjects.size >= MAX_SUBJECTS) this.#subjects.clear();
      const until = Math.min(now + CACHE_MS, record?.expiresAt ?? Number.POSITIVE_INFINITY);
      this.#subjects.set(key, { principal, until });
    }
    return principal;
  }

  /** Forgets remembered checks, after a password change, a deletion or a revocation. */
  forget(): void {
    this.#clear();
    this.#options.changed?.();
  }

  /** Another node changed users or tokens: forgets what this one remembers. */
  invalidate(): void {
    this.#clear();
  }

  #clear(): void {
    this.#recent.clear();
    this.#subjects.clear();
    this.#generation++;
  }

  async setPassword(user: Omit<UserRecord, "passwordHash" | "createdAt">, password: string): Promise<void> {
    const existing = await this.#store.getUser(user.name);
    await this.#store.putUser({
      ...user,
      passwordHash: await hashPassword(password),
      createdAt: existing?.createdAt ?? Date.now(),
    });
    this.forget();
  }

  async createApiToken(
    user: string,
    options: { description: string; scopes: readonly Scope[]; expiresAt: number | undefined },
  ): Promise<NewApiToken> {
    const id = randomBytes(8).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    const record: ApiTokenRecord = {
      id,
      user,
      secretHash: sha256(secret).toString("hex"),
      description: options.description,
      scopes: options.scopes,
      expiresAt: options.expiresAt,
      revokedAt: undefined,
      createdAt: Date.now(),
    };
    await this.#store.createToken(record);
    return { record, secret: `wharf_${id}_${secret}` };
  }

  async revokeApiToken(id: string): Promise<boolean> {
    const revoked = await this.#store.revokeToken(id, Date.now());
    this.forget();
    return revoked;
  }
}
