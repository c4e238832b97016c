import { Command } from "commander";
import { startWharf } from "../app.js";
import { ConfigError, loadConfig } from "../config/load.js";
import { createLogger } from "../logger.js";
import { VERSION } from "../version.js";

const program = new Command()
  .name("wharf")
  .description(
    "A container registry: pull-through cache of Docker Hub and others, hosted and group repositories",
  )
  .version(VERSION);

program
  .command("serve")
  .description("run the registry (without --config: a Docker Hub cache on :5000 with data in ./data)")
  .option("-c, --config <file>", "YAML configuration file")
  .option("-d, --data <dir>", "data directory (overrides data_dir)")
  .option("-l, --listen <addr>", "main listener, host:port or :port (overrides listen)")
  .action(async (options: { config?: string; data?: string; listen?: string }) => {
    const config = await loadConfig({
      ...(options.config ? { file: options.config } : {}),
      ...(options.data ? { dataDir: options.data } : {}),
      ...(options.listen ? { listen: options.listen } : {}),
    });
    const logger = createLogger(config.log.level);
    const wharf = await startWharf(config, logger);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, "stopping");
      wharf.close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, "unclean stop");
          process.exit(1);
        },
      );
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });

const configCommand = program.command("config").description("work with configuration files");
configCommand
  .command("check")
  .argument("<file>", "YAML configuration file")
  .description("validate a configuration file and explain each mistake")
  .action(async (file: string) => {
    const config = await loadConfig({ file });
    const names = Object.entries(config.repositories).map(([name, repo]) => `${name} (${repo.type})`);
    process.stdout.write(`${file}: valid; repositories: ${names.join(", ")}\n`);
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`wharf: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
