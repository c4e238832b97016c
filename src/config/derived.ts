import type { Config } from "./schema.js";

/**
 * The repository behind plain `/v2/<image>/…` on the main port (what dockerd's
 * registry-mirrors sends): the configured one, else the only repository, else the only group.
 */
export function defaultRepositoryOf(config: Config): string | undefined {
  if (config.default_repository !== undefined) return config.default_repository;
  const names = Object.keys(config.repositories);
  if (names.length === 1) return names[0];
  const groups = names.filter((name) => config.repositories[name]?.type === "group");
  return groups.length === 1 ? groups[0] : undefined;
}
