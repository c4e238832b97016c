import type { Command } from "commander";
import { startWharf } from "../app.js";
import { createLogger } from "../logger.js";
import { type CommonOptions, configFrom, withConfigOptions } from "./options.js";

export function registerServe(program: Command): void {
  withConfigOptions(
    program
      .command("serve")
      .description("run the registry (without --config: a Docker Hub cache on :5000 with data in ./data)"),
  ).action(async (options: CommonOptions) => {
    const config = await configFrom(options, true);
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
}
