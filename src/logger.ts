import { type Logger, pino } from "pino";

/**
 * JSON lines on stdout. Secrets are removed by path as a second line of defence: the code
 * never hands a password or token to the logger in the first place.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
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
  });
}
