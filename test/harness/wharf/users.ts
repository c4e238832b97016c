import { type CliResult, runWharfCli } from "./cli.js";
import type { Wharf } from "./start.js";

// `wharf user …` and `wharf token …` against a running wharf's configuration and data directory,
// as an operator runs them beside the server. Each throws when the command fails, except where a
// test wants the failure (runUserCommand).

/** `wharf ARGS --config <wharf's> --data <wharf's>`, with `input` on stdin. */
export function runUserCommand(wharf: Wharf, args: string[], input?: string): Promise<CliResult> {
  if (!wharf.configPath) throw new Error("user commands need a wharf started with configYaml");
  return runWharfCli([...args, "--config", wharf.configPath, "--data", wharf.dataDir], {
    ...(input === undefined ? {} : { input }),
  });
}

async function succeed(wharf: Wharf, args: string[], input?: string): Promise<CliResult> {
  const result = await runUserCommand(wharf, args, input);
  if (result.code !== 0) throw new Error(`wharf ${args.join(" ")} exited ${result.code}\n${result.stderr}`);
  return result;
}

/** `wharf user add NAME --password-stdin [--group G…] [--admin]`. */
export function addUser(
  wharf: Wharf,
  name: string,
  password: string,
  opts: { groups?: string[]; admin?: boolean } = {},
): Promise<CliResult> {
  const args = ["user", "add", name, "--password-stdin"];
  if (opts.groups?.length) args.push("--group", ...opts.groups);
  if (opts.admin) args.push("--admin");
  return succeed(wharf, args, `${password}\n`);
}

export interface CreatedApiToken {
  id: string;
  /** `wharf_<id>_<secret>`: what a robot uses as its password. */
  secret: string;
  result: CliResult;
}

/** `wharf token create --user U [--scope S…] [--expires D]`, its printed-once secret read back. */
export async function createApiToken(
  wharf: Wharf,
  user: string,
  opts: { scopes?: string[]; expires?: string } = {},
): Promise<CreatedApiToken> {
  const args = ["token", "create", "--user", user, "--description", "test robot"];
  if (opts.scopes?.length) args.push("--scope", ...opts.scopes);
  if (opts.expires) args.push("--expires", opts.expires);
  const result = await succeed(wharf, args);
  const match = /^token ([0-9a-f]{16}) for \S+: (wharf_[0-9a-f]{16}_[A-Za-z0-9_-]{43})$/m.exec(result.stdout);
  if (!match) throw new Error(`wharf token create printed no token:\n${result.stdout}`);
  return { id: match[1] as string, secret: match[2] as string, result };
}

/** `wharf token revoke ID`. */
export function revokeApiToken(wharf: Wharf, id: string): Promise<CliResult> {
  return succeed(wharf, ["token", "revoke", id]);
}

/** `wharf user import FILE` (an htpasswd file). */
export function importHtpasswd(wharf: Wharf, file: string): Promise<CliResult> {
  return succeed(wharf, ["user", "import", file]);
}
