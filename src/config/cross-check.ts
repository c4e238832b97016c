import { isRecord } from "../util/is-record.js";

/** A problem found in the configuration, located by its path in the file. */
export interface ConfigIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** The problem is the key at the end of `path` itself (its spelling), not its value. */
  readonly atKey?: boolean;
}

const REPOSITORY_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/**
 * Checks that relate one part of the configuration to another (group members exist, a default
 * repository is declared, ports are not shared…). It reads the raw input defensively so its
 * findings are reported together with the schema's, not one run later.
 */
export function crossCheck(raw: unknown): ConfigIssue[] {
  if (!isRecord(raw)) return [];
  const issues: ConfigIssue[] = [];
  if (raw.cluster !== undefined && raw.database === undefined) {
    issues.push({
      path: ["cluster"],
      message: "the nodes of a cluster share a database: add a database section",
    });
  }
  const repositories = isRecord(raw.repositories) ? raw.repositories : undefined;
  if (raw.repositories !== undefined && repositories === undefined) return issues;
  if (repositories === undefined) return issues;
  const names = Object.keys(repositories);
  if (names.length === 0) issues.push({ path: ["repositories"], message: "declare at least one repository" });
  for (const name of names) {
    if (!REPOSITORY_NAME.test(name)) {
      issues.push({
        path: ["repositories", name],
        message: "repository names are lower-case letters and digits, separated by '.', '_' or '-'",
        atKey: true,
      });
    }
  }
  if (typeof raw.default_repository === "string" && !names.includes(raw.default_repository)) {
    issues.push({ path: ["default_repository"], message: `no repository named "${raw.default_repository}"` });
  }
  const typeOf = (name: string) => {
    const repository = repositories[name];
    return isRecord(repository) ? repository.type : undefined;
  };
  const ports = new Map<number, string>();
  for (const [name, repository] of Object.entries(repositories)) {
    if (!isRecord(repository)) continue;
    const port = Number(repository.port);
    if (repository.port !== undefined && Number.isInteger(port)) {
      const other = ports.get(port);
      if (other !== undefined) {
        issues.push({ path: ["repositories", name, "port"], message: `port ${port} is already ${other}'s` });
      }
      ports.set(port, name);
    }
    if (repository.type !== "group") continue;
    const members = Array.isArray(repository.members) ? repository.members : [];
    members.forEach((member, index) => {
      if (typeof member !== "string") return;
      if (!names.includes(member) || member === name) {
        issues.push({
          path: ["repositories", name, "members", index],
          message: `"${member}" is not another repository`,
        });
      }
    });
    if (typeof repository.push_to === "string") {
      if (!members.includes(repository.push_to)) {
        issues.push({
          path: ["repositories", name, "push_to"],
          message: "must be one of the group's members",
        });
      } else if (typeOf(repository.push_to) !== "hosted") {
        issues.push({ path: ["repositories", name, "push_to"], message: "must be a hosted repository" });
      }
    }
  }
  issues.push(...groupCycles(repositories));
  return issues;
}

/** A group that contains itself, directly or through other groups, could never answer a read. */
function groupCycles(repositories: Record<string, unknown>): ConfigIssue[] {
  const membersOf = (name: string): string[] => {
    const repository = repositories[name];
    if (!isRecord(repository) || repository.type !== "group" || !Array.isArray(repository.members)) return [];
    return repository.members.filter((m): m is string => typeof m === "string" && m !== name);
  };
  const issues: ConfigIssue[] = [];
  for (const start of Object.keys(repositories)) {
    const seen = new Set<string>();
    const stack = [...membersOf(start)];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      if (next === start) {
        issues.push({ path: ["repositories", start, "members"], message: "a group cannot contain itself" });
        break;
      }
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(...membersOf(next));
    }
  }
  return issues;
}
