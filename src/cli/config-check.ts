import type { Command } from "commander";
import { loadConfig } from "../config/load.js";
import { readKeyPair } from "../util/tls-key-pair.js";

export function registerConfigCheck(program: Command): void {
  program
    .command("config")
    .description("work with configuration files")
    .command("check")
    .argument("<file>", "YAML configuration file")
    .description("validate a configuration file and explain each mistake with its place in the file")
    .action(async (file: string) => {
      const config = await loadConfig({ file, checkFiles: true });
      const names = Object.entries(config.repositories).map(([name, repo]) => `${name} (${repo.type})`);
      process.stdout.write(`${file}: valid; repositories: ${names.join(", ")}\n`);
      if (config.tls !== undefined) {
        const { summary } = await readKeyPair(config.tls);
        const holder = summary.names.length > 0 ? summary.names.join(", ") : summary.subject;
        process.stdout.write(`HTTPS with a certificate for ${holder}, valid until ${summary.notAfter}\n`);
      }
    });
}
