import { mkdir, readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { pino } from "pino";
import {
  createToken,
  deleteUser,
  MIN_PASSWORD_LENGTH,
  revokeToken,
  saveUser,
  tokenState,
} from "../auth/accounts.js";
import { Authenticator } from "../auth/authenticator.js";
import { isValidUserName, parseHtpasswd } from "../auth/htpasswd.js";
import { generatePassword } from "../auth/passwords.js";
import { ACTIONS, type Action, type Scope } from "../auth/rules.js";
import { importUser, openAuthStore } from "../auth/setup.js";
import { parseDuration } from "../config/duration.js";
import { type CommonOptions, configFrom, withConfigOptions } from "./options.js";
import { readStdinSecret } from "./stdin.js";

/** Audit events of the CLI go to stderr as JSON lines, like the server's; stdout stays for the user. */
const audit = pino(
  { base: { service: "wharf", audit: true }, timestamp: pino.stdTimeFunctions.isoTime },
  pino.destination(2),
);

async function withAuthenticator<T>(
  options: CommonOptions,
  work: (authenticator: Authenticator) => Promise<T>,
): Promise<T> {
  const config = await configFrom(options);
  const dataDir = resolve(config.data_dir);
  await mkdir(dataDir, { recursive: true });
  const store = await openAuthStore(config, dataDir);
  try {
    return await work(new Authenticator(store));
  } finally {
    await store.close();
  }
}

async function readPassword(
  fromStdin: boolean | undefined,
): Promise<{ password: string; generated: boolean }> {
  if (!fromStdin) return { password: generatePassword(), generated: true };
  const password = await readStdinSecret();
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new Error(`passwords have at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  return { password, generated: false };
}

/** `REPO[/NAME-PATTERN]:ACTIONS`, e.g. `docker-internal/team/**:pull,push`. */
export function parseScope(text: string): Scope {
  const colon = text.lastIndexOf(":");
  const where = colon > 0 ? text.slice(0, colon) : "";
  const actions = (colon > 0 ? text.slice(colon + 1) : "").split(",").filter((a) => a !== "");
  if (
    where === "" ||
    actions.length === 0 ||
    !actions.every((a) => (ACTIONS as readonly string[]).includes(a))
  ) {
    throw new Error(`scope "${text}" is not REPOSITORY[/NAME-PATTERN]:pull,push,delete`);
  }
  const slash = where.indexOf("/");
  return {
    repositories: [slash < 0 ? where : where.slice(0, slash)],
    names: [slash < 0 ? "**" : where.slice(slash + 1)],
    actions: actions as Action[],
  };
}

export function registerUsers(program: Command): void {
  const user = program.command("user").description("manage the users wharf's authentication knows");
  withConfigOptions(
    user
      .command("add")
      .argument("<name>")
      .description(
        "create a user or change one (password from stdin with --password-stdin, else generated and printed)",
      )
      .option("--admin", "may do everything, including managing users")
      .option("--group <group...>", "groups the user belongs to (access rules can name them)")
      .option("--password-stdin", "read the password from standard input"),
  ).action(
    async (
      name: string,
      options: CommonOptions & { admin?: boolean; group?: string[]; passwordStdin?: boolean },
    ) => {
      if (!isValidUserName(name)) throw new Error(`"${name}" is not a valid user name`);
      const { password, generated } = await readPassword(options.passwordStdin);
      await withAuthenticator(options, (authenticator) =>
        saveUser(
          authenticator,
          audit,
          { name, admin: options.admin === true, groups: options.group ?? [] },
          password,
          undefined,
        ),
      );
      process.stdout.write(
        generated ? `user ${name}: password ${password} (shown once)\n` : `user ${name} saved\n`,
      );
    },
  );
  withConfigOptions(user.command("list").description("list users")).action(async (options: CommonOptions) => {
    const users = await withAuthenticator(options, (authenticator) => authenticator.store.listUsers());
    for (const u of users) {
      process.stdout.write(
        `${u.name}${u.admin ? " (admin)" : ""}${u.groups.length ? ` groups: ${u.groups.join(", ")}` : ""}\n`,
      );
    }
  });
  withConfigOptions(
    user.command("delete").argument("<name>").description("delete a user and its API tokens"),
  ).action(async (name: string, options: CommonOptions) => {
    await withAuthenticator(options, (authenticator) => deleteUser(authenticator, audit, name, undefined));
    process.stdout.write(`user ${name} deleted\n`);
  });
  withConfigOptions(
    user
      .command("import")
      .argument("<htpasswd>")
      .description("import the bcrypt users of an htpasswd file (as registry:v2 uses)"),
  ).action(async (file: string, options: CommonOptions) => {
    const { entries, skipped } = parseHtpasswd(await readFile(file, "utf8"));
    await withAuthenticator(options, async (authenticator) => {
      for (const entry of entries) await importUser(authenticator.store, entry, file, audit);
    });
    for (const { line, reason } of skipped) process.stderr.write(`${file}:${line}: skipped: ${reason}\n`);
    process.stdout.write(`imported ${entries.length} users\n`);
  });
}

export function registerTokens(program: Command): void {
  const token = program.command("token").description("manage API tokens for CI robots");
  withConfigOptions(
    token
      .command("create")
      .requiredOption("--user <name>", "the user the token acts for (it never gets more than this user)")
      .option(
        "--scope <scope...>",
        "REPOSITORY[/NAME-PATTERN]:ACTIONS, e.g. docker-internal/team/**:pull,push",
      )
      .option("--expires <duration>", "lifetime, e.g. 30d or 12h (default: never)")
      .option("--description <text>", "what the token is for", "")
      .description("create an API token; it is printed once"),
  ).action(
    async (
      options: CommonOptions & { user: string; scope?: string[]; expires?: string; description: string },
    ) => {
      const scopes = (options.scope ?? []).map(parseScope);
      const lifetime = options.expires === undefined ? undefined : parseDuration(options.expires);
      if (options.expires !== undefined && lifetime === undefined)
        throw new Error(`--expires ${options.expires} is not a duration`);
      const created = await withAuthenticator(options, (authenticator) =>
        createToken(
          authenticator,
          audit,
          { user: options.user, description: options.description, scopes, lifetimeMs: lifetime },
          undefined,
        ),
      );
      process.stdout.write(
        `token ${created.record.id} for ${options.user}: ${created.secret}\n(use it as the password of ${options.user}; shown once)\n`,
      );
    },
  );
  withConfigOptions(token.command("list").description("list API tokens (never their secrets)")).action(
    async (options: CommonOptions) => {
      const tokens = await withAuthenticator(options, (authenticator) => authenticator.store.listTokens());
      for (const t of tokens) {
        const state = tokenState(t, Date.now());
        const scopes = t.scopes
          .map((s) => `${s.repositories.join("|")}/${s.names.join("|")}:${s.actions.join(",")}`)
          .join(" ");
        process.stdout.write(`${t.id} ${t.user} ${state} ${scopes} ${t.description}\n`);
      }
    },
  );
  withConfigOptions(token.command("revoke").argument("<id>").description("revoke an API token")).action(
    async (id: string, options: CommonOptions) => {
      await withAuthenticator(options, (authenticator) => revokeToken(authenticator, audit, id, undefined));
      process.stdout.write(`token ${id} revoked\n`);
    },
  );
}
