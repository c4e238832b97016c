import pretty from "pino-pretty";
import { formatBytes } from "../util/format-bytes.js";

type Paint = (text: string) => string;

/** The colouring functions pino-pretty hands to a message format (colorette's; identity without colours). */
export interface Colors {
  readonly red: Paint;
  readonly yellow: Paint;
  readonly green: Paint;
  readonly cyan: Paint;
  readonly magenta: Paint;
  readonly dim: Paint;
}

type LogRecord = Record<string, unknown>;

/** Fields every line has, shown by pino-pretty itself (time, level) or worth nothing to a reader. */
const FRAME_KEYS = new Set(["level", "time", "msg", "pid", "hostname", "service"]);
/** pino's level numbers: from `error` on, a stack is worth its lines. */
const ERROR_LEVEL = 50;

function statusColor(status: number, colors: Colors): (text: string) => string {
  if (status >= 500 || status === 0) return colors.red;
  if (status >= 400) return colors.yellow;
  if (status >= 300) return colors.cyan;
  return colors.green;
}

const CACHE_COLORS: Readonly<Record<string, keyof Colors | undefined>> = {
  hit: "green",
  revalidated: "cyan",
  miss: "yellow",
  stale: "magenta",
};

function requestLine(log: LogRecord, colors: Colors): string {
  const status = typeof log.status === "number" ? log.status : 0;
  const parts = [
    String(log.method),
    String(log.path),
    statusColor(status, colors)(String(status)),
    `${log.ms}ms`,
    formatBytes(typeof log.bytes === "number" ? log.bytes : 0),
  ];
  if (typeof log.cache === "string") {
    const color = CACHE_COLORS[log.cache];
    parts.push(color ? colors[color](log.cache) : log.cache);
  }
  if (log.repo !== undefined) parts.push(colors.dim(String(log.repo)));
  if (log.user !== undefined) parts.push(colors.dim(`user=${log.user}`));
  if (log.error !== undefined) parts.push(colors.yellow(String(log.error)));
  if (log.aborted === true) parts.push(colors.red("aborted"));
  return parts.join(" ");
}

/** `key=value`, quoting only what a reader could misread (spaces, quotes, nothing at all). */
function field(key: string, value: unknown): string {
  if (typeof value === "string")
    return /^[^\s"=]+$/.test(value) ? `${key}=${value}` : `${key}=${JSON.stringify(value)}`;
  if (typeof value === "object" && value !== null) return `${key}=${JSON.stringify(value)}`;
  return `${key}=${String(value)}`;
}

function errorOf(value: unknown): { message: string; stack: string | undefined } | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { message, stack } = value as { message?: unknown; stack?: unknown };
  return {
    message: typeof message === "string" ? message : JSON.stringify(value),
    stack: typeof stack === "string" ? stack : undefined,
  };
}

function eventLine(log: LogRecord, colors: Colors): string {
  const parts = [String(log.msg ?? "")];
  let trace = "";
  for (const [key, value] of Object.entries(log)) {
    if (FRAME_KEYS.has(key) || value === undefined) continue;
    const error = key === "err" ? errorOf(value) : undefined;
    if (error) {
      parts.push(colors.red(field("error", error.message)));
      // The stack's first line repeats the message; the frames below it say where.
      if (typeof log.level === "number" && log.level >= ERROR_LEVEL && error.stack) {
        trace = `\n${error.stack.split("\n").slice(1).join("\n")}`;
      }
      continue;
    }
    parts.push(colors.dim(field(key, value)));
  }
  return parts.join(" ") + trace;
}

/**
 * One line of the human log: a request as `GET /v2/… 200 12ms 1.2 KiB hit docker-hub`, any other
 * event as its message followed by its fields. Time and level come before it from pino-pretty.
 */
export function formatLogLine(log: LogRecord, colors: Colors): string {
  return log.msg === "request" && typeof log.method === "string"
    ? requestLine(log, colors)
    : eventLine(log, colors);
}

/**
 * The log a person reads on a terminal (`--log-format pretty`): pino's JSON lines, already
 * redacted, rendered by pino-pretty in this process. Written synchronously, so the last lines
 * before an exit are not lost.
 */
export function prettyDestination(options: {
  colors: boolean;
  destination?: NodeJS.WritableStream;
}): pretty.PrettyStream {
  return pretty({
    colorize: options.colors,
    sync: true,
    destination: options.destination ?? 1,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname,service",
    hideObject: true,
    messageFormat: (log, _messageKey, _levelLabel, { colors }) => formatLogLine(log, colors),
  });
}
