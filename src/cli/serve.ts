import { constants } from "node:os";
import { type Command, Option } from "commander";
import pretty from "pino-pretty";
import { startWharf } from "../app.js";
import { LOG_FORMATS, type LogFormatSetting } from "../config/schema.js";
import { createLogger } from "../logger.js";
import { type CommonOptions, configFrom, withConfigOptions } from "./options.js";
import { prettyDestination } from "./pretty-log.js";

interface ServeOptions extends CommonOptions {
  logFormat?: LogFormatSetting;
}

/** `auto` is for people on a terminal; a pipe, the journal or a file gets JSON lines. */
function wantsPretty(format: LogFormatSetting): boolean {
  return format === "pretty" || (format === "auto" && process.stdout.isTTY === true);
}

export function registerServe(program: Command): void {
  withConfigOptions(
    program
      .command("serve")
      .description("run the registry (without --config: a Docker Hub cache on :5000 with data in ./data)")
      .addOption(
        new Option(
          "--log-format <format>",
          "auto: for people on a terminal, JSON lines otherwise (overrides log.format)",
        )
          .choices(LOG_FORMATS)
          .env("WHARF_LOG_FORMAT"),
      ),
  ).action(async (options: ServeOptions) => {
    const config = await configFrom(options, true);
    const format = options.logFormat ?? config.log.format;
    const logger = createLogger({
      level: config.log.level,
      // colorette's answer: a terminal, unless NO_COLOR says otherwise (or FORCE_COLOR asks for colours).
      ...(wantsPretty(format) ? { destination: prettyDestination({ colors: pretty.isColorSupported }) } : {}),
    });
    const wharf = await startWharf(config, logger);
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        // Someone will not wait for the grace period. Writes cut short leave only spool files, removed at the next start.
        logger.warn({ signal }, "second signal: exiting at once");
        process.exit(128 + constants.signals[signal]);
      }
      stopping = true;
      wharf.close({ graceMs: config.shutdown_grace, reason: signal }).then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, "unclean stop");
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}
