import { type Command, Option } from "commander";
import { type LoadOptions, loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";

export interface CommonOptions {
  config?: string;
  data?: string;
  listen?: string;
}

/** The options every command that reads the configuration takes, so they mean the same everywhere. */
export function withConfigOptions(command: Command): Command {
  // WHARF_CONFIG lets a container image's health check and its server read the same file.
  return command
    .addOption(
      new Option(
        "-c, --config <file>",
        "YAML configuration file (without it: registry:v2 environment variables)",
      ).env("WHARF_CONFIG"),
    )
    .option("-d, --data <dir>", "data directory (overrides data_dir)")
    .option("-l, --listen <addr>", "main listener, host:port or :port (overrides listen)");
}

/** `checkFiles`: also read the TLS certificate and key, for commands that serve with them. */
export function configFrom(options: CommonOptions, checkFiles = false): Promise<Readonly<Config>> {
  const load: LoadOptions = {
    checkFiles,
    ...(options.config ? { file: options.config } : {}),
    ...(options.data ? { dataDir: options.data } : {}),
    ...(options.listen ? { listen: options.listen } : {}),
  };
  return loadConfig(load);
}
