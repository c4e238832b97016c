import type pg from "pg";
import { TOPICS } from "../coordination/coordination.js";
import { channelOf } from "../coordination/postgres-invalidations.js";
import { migratePostgres } from "../meta/postgres-migrations.js";
import { openPool, type PostgresOptions } from "../meta/postgres-pool.js";
import type { ApiTokenRecord, AuthStore, SessionRecord, UserRecord } from "./auth-store.js";
import type { Scope } from "./rules.js";

/** The tables of the SQLite auth database, beside the content metadata in the same PostgreSQL database. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
     name TEXT COLLATE "C" PRIMARY KEY, password_hash TEXT NOT NULL, admin BOOLEAN NOT NULL,
     groups TEXT NOT NULL, created_at BIGINT NOT NULL
   );
   CREATE TABLE api_tokens (
     id TEXT PRIMARY KEY, user_name TEXT NOT NULL, secret_hash TEXT NOT NULL, description TEXT NOT NULL,
     scopes TEXT NOT NULL, expires_at BIGINT, revoked_at BIGINT, created_at BIGINT NOT NULL
   );
   CREATE INDEX api_tokens_by_user ON api_tokens (user_name);
   CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  `CREATE TABLE sessions (
     id_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, csrf_token TEXT NOT NULL,
     created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL
   );
   CREATE INDEX sessions_by_user ON sessions (user_name);
   CREATE INDEX sessions_by_expiry ON sessions (expires_at);`,
  // Every node remembers successful checks for a few seconds: any write to users or tokens, by a
  // node or by a command, tells them all to forget (the auth topic's invalidations), at its commit.
  `CREATE FUNCTION wharf_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN PERFORM pg_notify('${channelOf(TOPICS.auth)}', TG_TABLE_NAME); RETURN NULL; END $$;
   CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
     FOR EACH STATEMENT EXECUTE FUNCTION wharf_auth_changed();
   CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_tokens
     FOR EACH STATEMENT EXECUTE FUNCTION wharf_auth_changed();`,
];

interface SessionRow {
  id_hash: string;
  user_name: string;
  csrf_token: string;
  created_at: number;
  expires_at: number;
}

const toSession = (row: SessionRow): SessionRecord => ({
  idHash: row.id_hash,
  user: row.user_name,
  csrfToken: row.csrf_token,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
});

const SESSION_COLUMNS = "id_hash, user_name, csrf_token, created_at, expires_at";

interface UserRow {
  name: string;
  password_hash: string;
  admin: boolean;
  groups: string;
  created_at: number;
}

interface TokenRow {
  id: string;
  user_name: string;
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
  admin: row.admin,
  groups: JSON.parse(row.groups) as string[],
  createdAt: row.created_at,
});

const toToken = (row: TokenRow): ApiTokenRecord => ({
  id: row.id,
  user: row.user_name,
  secretHash: row.secret_hash,
  description: row.description,
  scopes: JSON.parse(row.scopes) as Scope[],
  expiresAt: row.expires_at ?? undefined,
  revokedAt: row.revoked_at ?? undefined,
  createdAt: row.created_at,
});

const USER_COLUMNS = "name, password_hash, admin, groups, created_at";
const TOKEN_COLUMNS = "id, user_name, secret_hash, description, scopes, expires_at, revoked_at, created_at";

/**
 * Users, API tokens, browser sessions and settings on PostgreSQL, shared by every node (a revocation
 * or a logout holds everywhere at once).
 */
export class PostgresAuthStore implements AuthStore {
  readonly #pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Connects and migrates; rejects when the database cannot be reached. */
  static async open(options: PostgresOptions): Promise<PostgresAuthStore> {
    const pool = openPool(options);
    try {
      await migratePostgres(pool, "auth", MIGRATIONS);
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
    return new PostgresAuthStore(pool);
  }

  async #rows<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.#pool.query<R>({ name: `auth.${name}`, text, values })).rows;
  }

  /** How many rows a write changed. */
  async #changed(name: string, text: string, values: unknown[]): Promise<number> {
    return (await this.#pool.query({ name: `auth.${name}`, text, values })).rowCount ?? 0;
  }

  async getUser(name: string): Promise<UserRecord | undefined> {
    const [row] = await this.#rows<UserRow>("getUser", `SELECT ${USER_COLUMNS} FROM users WHERE name = $1`, [
      name,
    ]);
    return row ? toUser(row) : undefined;
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.#rows<UserRow>("listUsers", `SELECT ${USER_COLUMNS} FROM users ORDER BY name`)).map(
      toUser,
    );
  }

  async putUser(user: UserRecord): Promise<void> {
    await this.#rows(
      "putUser",
      `INSERT INTO users (${USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, admin = excluded.admin,
         groups = excluded.groups`,
      [user.name, user.passwordHash, user.admin, JSON.stringify(user.groups), user.createdAt],
    );
  }

  async deleteUser(name: string): Promise<boolean> {
    const [row] = await this.#rows<{ removed: number }>(
      "deleteUser",
      `WITH tokens AS (DELETE FROM api_tokens WHERE user_name = $1),
            sessions AS (DELETE FROM sessions WHERE user_name = $1),
            removed AS (DELETE FROM users WHERE name = $1 RETURNING 1)
       SELECT count(*)::int AS removed FROM removed`,
      [name],
    );
    return (row?.removed ?? 0) > 0;
  }

  async createToken(token: ApiTokenRecord): Promise<void> {
    await this.#rows(
      "createToken",
      `INSERT INTO api_tokens (${TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)`,
      [
        token.id,
        token.user,
        token.secretHash,
        token.description,
        JSON.stringify(token.scopes),
        token.expiresAt ?? null,
        token.createdAt,
      ],
    );
  }

  async getToken(id: string): Promise<ApiTokenRecord | undefined> {
    const [row] = await this.#rows<TokenRow>(
      "getToken",
      `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE id = $1`,
      [id],
    );
    return row ? toToken(row) : undefined;
  }

  async listTokens(): Promise<ApiTokenRecord[]> {
    const rows = await this.#rows<TokenRow>(
      "listTokens",
      `SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at`,
    );
    return rows.map(toToken);
  }

  async revokeToken(id: string, now: number): Promise<boolean> {
    const changed = await this.#changed(
      "revokeToken",
      "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
      [now, id],
    );
    return changed > 0;
  }

  async createSession(session: SessionRecord): Promise<void> {
    await this.#rows(
      "createSession",
      `INSERT INTO sessions (${SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)`,
      [session.idHash, session.user, session.csrfToken, session.createdAt, session.expiresAt],
    );
  }

  async getSession(idHash: string): Promise<SessionRecord | undefined> {
    const [row] = await this.#rows<SessionRow>(
      "getSession",
      `SELECT ${SESSION_COLUMNS} FROM sessions WHERE id_hash = $1`,
      [idHash],
    );
    return row ? toSession(row) : undefined;
  }

  async extendSession(idHash: string, expiresAt: number): Promise<boolean> {
    return (
      (await this.#changed("extendSession", "UPDATE sessions SET expires_at = $1 WHERE id_hash = $2", [
        expiresAt,
        idHash,
      ])) > 0
    );
  }

  async deleteSession(idHash: string): Promise<boolean> {
    return (await this.#changed("deleteSession", "DELETE FROM sessions WHERE id_hash = $1", [idHash])) > 0;
  }

  purgeSessions(now: number): Promise<number> {
    return this.#changed("purgeSessions", "DELETE FROM sessions WHERE expires_at < $1", [now]);
  }

  async getSetting(key: string): Promise<string | undefined> {
    const [row] = await this.#rows<{ value: string }>(
      "getSetting",
      "SELECT value FROM settings WHERE key = $1",
      [key],
    );
    return row?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    await this.#rows(
      "setSetting",
      "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      [key, value],
    );
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}
