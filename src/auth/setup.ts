import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { AuthConfig, Config } from "../config/schema.js";
import { type Invalidations, LocalInvalidations } from "../coordination/invalidation.js";
import { FileSigningKey, type SigningKeySource } from "../coordination/signing-key.js";
import type { AuthStore } from "./auth-store.js";
import { SqliteAuthStore } from "./auth-store.js";
import { Authenticator } from "./authenticator.js";
import { type HtpasswdEntry, parseHtpasswd } from "./htpasswd.js";
import { generatePassword } from "./passwords.js";
import { PostgresAuthStore } from "./postgres-auth-store.js";
import { AccessRules, defaultRules, type Rule } from "./rules.js";
import { TokenSigner } from "./token-signer.js";

export interface AuthServices {
  readonly store: AuthStore;
  readonly authenticator: Authenticator;
  readonly signer: TokenSigner;
  readonly rules: AccessRules;
  readonly config: AuthConfig;
}

/** The data directory's auth files: users and tokens, and the token signing key. */
export function authPaths(dataDir: string): { database: string; signingKey: string } {
  return { database: join(dataDir, "auth.db"), signingKey: join(dataDir, "auth", "token-signing-key.pem") };
}

/** Auth reads little (the authenticator remembers successes): a few connections suffice. */
const AUTH_DB_CONNECTIONS = 4;

/**
 * Users and tokens where the configuration keeps them: the `database` (beside the content
 * metadata, shared by every node) when there is one, else `data/auth.db`. The one place that chooses.
 */
export async function openAuthStore(config: Config, dataDir: string, logger?: Logger): Promise<AuthStore> {
  if (!config.database) return new SqliteAuthStore(authPaths(dataDir).database);
  return PostgresAuthStore.open({
    url: config.database.url,
    maxConnections: AUTH_DB_CONNECTIONS,
    ...(logger
      ? {
          onIdleError: (error: Error) =>
            logger.warn({ err: error }, "an auth database connection failed while idle"),
        }
      : {}),
  });
}

function rulesOf(config: Config, auth: AuthConfig): Rule[] {
  if (auth.rules) return auth.rules;
  const proxies = Object.entries(config.repositories).flatMap(([name, repo]) =>
    repo.type === "proxy" ? [name] : [],
  );
  return defaultRules(proxies);
}

/**
 * Takes one htpasswd user's hash, keeping what wharf knows of an existing user (admin, groups).
 * An unchanged hash is no event.
 */
export async function importUser(
  store: AuthStore,
  entry: HtpasswdEntry,
  source: string,
  audit: Logger,
): Promise<void> {
  const existing = await store.getUser(entry.user);
  if (existing?.passwordHash === entry.hash) return;
  await store.putUser({
    name: entry.user,
    passwordHash: entry.hash,
    admin: existing?.admin ?? false,
    groups: existing?.groups ?? [],
    createdAt: existing?.createdAt ?? Date.now(),
  });
  audit.info(
    { event: existing ? "user.updated" : "user.created", user: entry.user, source },
    "user imported",
  );
}

/**
 * Users of an htpasswd file (bcrypt, as registry:v2 uses) become wharf users. The file stays the
 * source of truth for them, as with registry:v2: a line taken out of it removes its user at the
 * next start, unless the user was given a new password in wharf since. Other users stay as they are.
 */
async function importHtpasswd(path: string, authenticator: Authenticator, audit: Logger): Promise<void> {
  const { entries, skipped } = parseHtpasswd(await readFile(path, "utf8"));
  const store = authenticator.store;
  const previous = JSON.parse((await store.getSetting("htpasswd.imported")) ?? "{}") as Record<
    string,
    string
  >;
  const inFile = new Set(entries.map((entry) => entry.user));
  for (const [name, hash] of Object.entries(previous)) {
    if (inFile.has(name) || (await store.getUser(name))?.passwordHash !== hash) continue;
    await store.deleteUser(name);
    audit.info({ event: "user.deleted", user: name, source: path }, "user no longer in the htpasswd file");
  }
  await store.setSetting(
    "htpasswd.imported",
    JSON.stringify(Object.fromEntries(entries.map((entry) => [entry.user, entry.hash]))),
  );
  for (const { line, reason } of skipped)
    audit.warn({ event: "htpasswd.skipped", file: path, line, reason }, "htpasswd line not imported");
  for (const entry of entries) await importUser(store, entry, path, audit);
  authenticator.forget();
}

/**
 * The first start with authentication creates an admin (and so does a start that finds none, so
 * a site can never lock itself out of administration). Its password comes from
 * WHARF_ADMIN_PASSWORD or is generated and printed once on stderr: it never reaches the log.
 */
async function ensureAdmin(
  authenticator: Authenticator,
  audit: Logger,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const users = await authenticator.store.listUsers();
  if (users.some((user) => user.admin)) return;
  if (users.some((user) => user.name === "admin")) {
    audit.warn(
      { event: "admin.missing" },
      'no user is an admin and the name "admin" is taken: make one with `wharf user add <name> --admin`',
    );
    return;
  }
  const given = env.WHARF_ADMIN_PASSWORD;
  const password = given && given.length > 0 ? given : generatePassword();
  await authenticator.setPassword({ name: "admin", admin: true, groups: [] }, password);
  audit.info(
    {
      event: "user.created",
      user: "admin",
      admin: true,
      source: given ? "WHARF_ADMIN_PASSWORD" : "generated",
    },
    "first admin created",
  );
  if (!given) {
    process.stderr.write(
      `\nwharf: created the first user "admin" with password ${password}\n` +
        "wharf: it is shown this once; change it with `wharf user add admin --admin --password-stdin`.\n\n",
    );
  }
}

/** Rule changes between runs are audit events: the rules live in the configuration file. */
async function auditRuleChanges(store: AuthStore, rules: readonly Rule[], audit: Logger): Promise<void> {
  const lines = rules.map((rule) => JSON.stringify(rule));
  const digest = createHash("sha256").update(lines.join("\n")).digest("hex");
  const previous = await store.getSetting("rules");
  if (previous === undefined) {
    audit.info({ event: "rules.loaded", rules: rules.length, digest }, "access rules");
  } else {
    const before = (JSON.parse(previous) as { lines: string[] }).lines;
    if (before.join("\n") === lines.join("\n")) return;
    const added = lines.filter((line) => !before.includes(line)).map((line) => JSON.parse(line) as Rule);
    const removed = before.filter((line) => !lines.includes(line)).map((line) => JSON.parse(line) as Rule);
    audit.info({ event: "rules.changed", added, removed, digest }, "access rules changed");
  }
  await store.setSetting("rules", JSON.stringify({ lines }));
}

/** What a node shares with the others for auth (its coordination); alone, the data directory's key and nothing to hear. */
export interface SharedAuth {
  readonly env?: NodeJS.ProcessEnv;
  /** The cluster's signing key; without it, the data directory's file. */
  readonly signingKey?: SigningKeySource | undefined;
  /** How changes to users and tokens reach every node's authenticator; without it, this process's. */
  readonly invalidations?: Invalidations<"auth">;
}

/** Opens users, tokens and the signing key, imports htpasswd, creates the first admin, loads the rules. */
export async function openAuth(
  config: Config,
  dataDir: string,
  audit: Logger,
  options: SharedAuth = {},
): Promise<AuthServices | undefined> {
  const env = options.env ?? process.env;
  const auth = config.auth;
  if (!auth.enabled) return undefined;
  const paths = authPaths(dataDir);
  const store = await openAuthStore(config, dataDir, audit);
  const invalidations = options.invalidations ?? new LocalInvalidations<"auth">();
  const authenticator = new Authenticator(store, { changed: () => invalidations.publish("auth") });
  invalidations.subscribe(() => authenticator.invalidate());
  const signer = await TokenSigner.open(
    options.signingKey ?? new FileSigningKey(paths.signingKey),
    auth.service,
  );
  if (auth.htpasswd) await importHtpasswd(auth.htpasswd, authenticator, audit);
  await ensureAdmin(authenticator, audit, env);
  const rules = rulesOf(config, auth);
  await auditRuleChanges(store, rules, audit);
  return { store, authenticator, signer, rules: new AccessRules(rules), config: auth };
}
