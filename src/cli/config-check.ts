import type { Command } from "commander";
import { loadConfig } from "../config/load.js";

export function registerConfigCheck(program: Command): void {
  program
    .command("config")
    .description("work with configuration files")
    .command("check")
    .argument("<file>", "YAML configuration file")
    .description("validate a configuration file and explain each mistake with its place in the file")
    .action(async (file: string) => {
      const config = await loadConfig({ file });
      const names = Object.entries(config.repositories).map(([name, repo]) => `${name} (${repo.type})`);
      process.stdout.write(`${file}: valid; repositories: ${names.join(", ")}\n`);
    });
}
