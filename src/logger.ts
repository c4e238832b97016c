import { type DestinationStream, type Logger, pino } from "pino";

export interface LoggerOptions {
  readonly level: string;
  /**
   * Where the JSON lines go: stdout by default. The human form (`cli/pretty-log.ts`) is such a
   * destination too, so redaction below applies to both forms alike.
   */
  readonly destination?: DestinationStream;
}

/**
 * JSON lines. Secrets are removed by path as a second line of defence: the code never hands a
 * password or token to the logger in the first place.
 */
export function createLogger(options: LoggerOptions): Logger {
  const settings = {
    level: options.level,
    base: { service: "wharf" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        "password",
        "*.password",
        "authorization",
        "*.authorization",
        "token",
        "*.token",
        "credentials",
      ],
      censor: "[REDACTED]",
    },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
