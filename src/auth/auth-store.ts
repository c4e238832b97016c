import type Database from "better-sqlite3";
import { openSqlite } from "../meta/sqlite-migrations.js";
import { sampled } from "../util/sampled.js";
import type { Scope } from "./rules.js";

export interface UserRecord {
  readonly name: string;
  /** scrypt (wharf's own) or bcrypt (imported from htpasswd). */
  readonly passwordHash: string;
  readonly admin: boolean;
  readonly groups: readonly string[];
  readonly createdAt: number;
}

export interface ApiTokenRecord {
  readonly id: string;
  readonly user: string;
  /** sha256 of the secret part: the secret itself is shown once and never stored. */
  readonly secretHash: string;
  readonly description: string;
  readonly scopes: readonly Scope[];
  readonly expiresAt: number | undefined;
  readonly revokedAt: number | undefined;
  readonly createdAt: number;
}

/** A browser's login: the dashboard's session cookie names it. */
export interface SessionRecord {
  /** sha256 of the cookie's secret: a stolen database opens no session. */
  readonly idHash: string;
  readonly user: string;
  /** The token the page sends back in a header on every state-changing request (CSRF). */
  readonly csrfToken: string;
  readonly createdAt: number;
  /** When it ends unless used again; every use moves it forward, up to a fixed maximum age. */
  readonly expiresAt: number;
}

/**
 * Users, API tokens, browser sessions and a few settings, kept apart from content metadata in `data/auth.db`.
 * Async like MetadataStore, so a database server can stand behind it too.
 */
export interface AuthStore {
  getUser(name: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;
  putUser(user: UserRecord): Promise<void>;
  deleteUser(name: string): Promise<boolean>;
  createToken(token: ApiTokenRecord): Promise<void>;
  getToken(id: string): Promise<ApiTokenRecord | undefined>;
  listTokens(): Promise<ApiTokenRecord[]>;
  revokeToken(id: string, now: number): Promise<boolean>;
  /**
   * A number that moves whenever users or tokens changed, by this store or any other writer (the
   * CLI beside a server), so caches can see changes at once. A store that cannot tell leaves it
   * out: the authenticator then forgets what it remembered after its 10 s.
   */
  readonly version?: () => number;
  createSession(session: SessionRecord): Promise<void>;
  getSession(idHash: string): Promise<SessionRecord | undefined>;
  /** Moves a session's end; false when it is gone. */
  extendSession(idHash: string, expiresAt: number): Promise<boolean>;
  deleteSession(idHash: string): Promise<boolean>;
  /** Removes the sessions that ended before `now`; returns how many. */
  purgeSessions(now: number): Promise<number>;
  getSetting(key: string): Promise<string | undefined>;
  setSetting(key: string, value: string): Promise<void>;
  close(): Promise<void>;
}

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
     name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, admin INTEGER NOT NULL,
     groups TEXT NOT NULL, created_at INTEGER NOT NULL
   );
   CREATE TABLE api_tokens (
     id TEXT PRIMARY KEY, user TEXT NOT NULL, secret_hash TEXT NOT NULL, description TEXT NOT NULL,
     scopes TEXT NOT NULL, expires_at INTEGER, revoked_at INTEGER, created_at INTEGER NOT NULL
   );
   CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  `CREATE TABLE sessions (
     id_hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf_token TEXT NOT NULL,
     created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
   );
   CREATE INDEX sessions_by_user ON sessions (user);
   CREATE INDEX sessions_by_expiry ON sessions (expires_at);`,
];

interface SessionRow {
  id_hash: string;
  user: string;
  csrf_token: string;
  created_at: number;
  expires_at: number;
}

const toSession = (row: SessionRow): SessionRecord => ({
  idHash: row.id_hash,
  user: row.user,
  csrfToken: row.csrf_token,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
});

interface UserRow {
  name: string;
  password_hash: string;
  admin: number;
  groups: string;
  created_at: number;
}

interface TokenRow {
  id: string;
  user: string;
  secret_hash: string;
  description: string;
  scopes: string;
  expires_at: number | null;
  revoked_at: number | null;
  created_at: number;
}

const toUser = (row: UserRow): UserRecord => ({
  name: row.name,
  passwordHash: row.password_hash,
  admin: row.admin === 1,
  groups: JSON.parse(row.groups) as string[],
  createdAt: row.created_at,
});

const toToken = (row: TokenRow): ApiTokenRecord => ({
  id: row.id,
  user: row.user,
  secretHash: row.secret_hash,
  description: row.description,
  scopes: JSON.parse(row.scopes) as Scope[],
  expiresAt: row.expires_at ?? undefined,
  revokedAt: row.revoked_at ?? undefined,
  createdAt: row.created_at,
});

/** The embedded AuthStore. */
export class SqliteAuthStore implements AuthStore {
  readonly #db: Database.Database;
  /** Writes through this connection: SQLite's `data_version` counts only the others'. */
  #writes = 0;
  /**
   * This connection's writes plus SQLite's `data_version`, which moves whenever another
   * connection committed (`wharf token revoke`, `wharf user` beside a server).
   */
  readonly version: () => number;

  /** `path` is a file, or `:memory:` for tests. */
  constructor(path: string) {
    this.#db = openSqlite(path, MIGRATIONS);
    const statement = this.#db.prepare<[], number>("PRAGMA data_version").pluck();
    // Asked once a millisecond at most (another process's commit is seen within that); this
    // connection's own writes count at once.
    const dataVersion = sampled(() => (this.#db.open ? (statement.get() as number) : 0), 1);
    this.version = () => this.#writes + dataVersion();
  }

  async getUser(name: string): Promise<UserRecord | undefined> {
    const row = this.#db.prepare<[string], UserRow>("SELECT * FROM users WHERE name = ?").get(name);
    return row ? toUser(row) : undefined;
  }

  async listUsers(): Promise<UserRecord[]> {
    return this.#db.prepare<[], UserRow>("SELECT * FROM users ORDER BY name").all().map(toUser);
  }

  async putUser(user: UserRecord): Promise<void> {
    this.#writes++;
    this.#db
      .prepare(
        `INSERT INTO users (name, password_hash, admin, groups, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, admin = excluded.admin,
           groups = excluded.groups`,
      )
      .run(user.name, user.passwordHash, user.admin ? 1 : 0, JSON.stringify(user.groups), user.createdAt);
  }

  async deleteUser(name: string): Promise<boolean> {
    this.#writes++;
    return this.#db.transaction(() => {
      this.#db.prepare("DELETE FROM api_tokens WHERE user = ?").run(name);
      this.#db.prepare("DELETE FROM sessions WHERE user = ?").run(name);
      return this.#db.prepare("DELETE FROM users WHERE name = ?").run(name).changes > 0;
    })();
  }

  async createToken(token: ApiTokenRecord): Promise<void> {
    this.#writes++;
    this.#db
      .prepare(
        `INSERT INTO api_tokens (id, user, secret_hash, description, scopes, expires_at, revoked_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, NULL, ?)`,
      )
      .run(
        token.id,
        token.user,
        token.secretHash,
        token.description,
        JSON.stringify(token.scopes),
        token.expiresAt ?? null,
        token.createdAt,
      );
  }

  async getToken(id: string): Promise<ApiTokenRecord | undefined> {
    const row = this.#db.prepare<[string], TokenRow>("SELECT * FROM api_tokens WHERE id = ?").get(id);
    return row ? toToken(row) : undefined;
  }

  async listTokens(): Promise<ApiTokenRecord[]> {
    return this.#db.prepare<[], TokenRow>("SELECT * FROM api_tokens ORDER BY created_at").all().map(toToken);
  }

  async revokeToken(id: string, now: number): Promise<boolean> {
    this.#writes++;
    return (
      this.#db
        .prepare("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
        .run(now, id).changes > 0
    );
  }

  async createSession(session: SessionRecord): Promise<void> {
    this.#db
      .prepare(
        "INSERT INTO sessions (id_hash, user, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
      )
      .run(session.idHash, session.user, session.csrfToken, session.createdAt, session.expiresAt);
  }

  async getSession(idHash: string): Promise<SessionRecord | undefined> {
    const row = this.#db
      .prepare<[string], SessionRow>("SELECT * FROM sessions WHERE id_hash = ?")
      .get(idHash);
    return row ? toSession(row) : undefined;
  }

  async extendSession(idHash: string, expiresAt: number): Promise<boolean> {
    return (
      this.#db.prepare("UPDATE sessions SET expires_at = ? WHERE id_hash = ?").run(expiresAt, idHash)
        .changes > 0
    );
  }

  async deleteSession(idHash: string): Promise<boolean> {
    return this.#db.prepare("DELETE FROM sessions WHERE id_hash = ?").run(idHash).changes > 0;
  }

  async purgeSessions(now: number): Promise<number> {
    return this.#db.prepare("DELETE FROM sessions WHERE expires_at < ?").run(now).changes;
  }

  async getSetting(key: string): Promise<string | undefined> {
    return this.#db.prepare<[string], { value: string }>("SELECT value FROM settings WHERE key = ?").get(key)
      ?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    this.#db
      .prepare(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      )
      .run(key, value);
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
