import { CommandError, runCommand } from "../system/proc.js";
import { inheritedEnv, WHARF_MAIN, type Wharf } from "./start.js";

// wharf's one-shot commands (`config check`, `client-config`, `gc`, `user`, `token`) run as a user
// would run them: the compiled CLI in a child process, judged by its exit code and what it printed.

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node dist/src/cli/main.js ARGS`; a non-zero exit is a result to assert on, not a throw. */
export async function runWharfCli(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {},
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await runCommand(process.execPath, [WHARF_MAIN, ...args], {
      env: { ...inheritedEnv(), ...opts.env },
      timeoutMs: opts.timeoutMs ?? 60_000,
      ...(opts.input === undefined ? {} : { input: opts.input }),
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    if (!(e instanceof CommandError)) throw e;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export interface GcRun extends CliResult {
  /** `repo/name@digest` of each manifest removed (or that would be). */
  manifests: string[];
  /** Digests of the blob files removed (or that would be). */
  blobs: string[];
}

/**
 * `wharf gc` on a running wharf's configuration and data directory, with `flags` such as
 * `--dry-run`, `--untagged`, `--grace 0s`. Throws when it exits non-zero.
 */
export async function runGc(wharf: Wharf, flags: string[]): Promise<GcRun> {
  if (!wharf.configPath) throw new Error("runGc needs a wharf started with configYaml");
  const result = await runWharfCli(["gc", "--config", wharf.configPath, "--data", wharf.dataDir, ...flags]);
  if (result.code !== 0)
    throw new Error(`wharf gc ${flags.join(" ")} exited ${result.code}\n${result.stderr}`);
  const lines = result.stdout.split("\n");
  const after = (word: string) =>
    lines
      .map((line) => new RegExp(`^(?:would remove|removed) ${word} (\\S+)`).exec(line)?.[1])
      .filter((x): x is string => x !== undefined)
      .sort();
  return { ...result, manifests: after("manifest"), blobs: after("blob") };
}

/**
 * `wharf client-config` output cut into its files: each starts with a `# /etc/…` comment naming
 * where it goes; the map is keyed by that path and holds the text that follows it.
 */
export function clientConfigFiles(stdout: string): Map<string, string> {
  const files = new Map<string, string>();
  let current: string | undefined;
  for (const line of stdout.split("\n")) {
    const header = /^# (\/etc\/\S+)/.exec(line);
    if (header?.[1]) {
      current = header[1];
      files.set(current, "");
    } else if (current !== undefined) {
      files.set(current, `${files.get(current)}${line}\n`);
    }
  }
  return files;
}
