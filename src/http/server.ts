import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Logger } from "pino";
import { OciError } from "../oci/errors.js";
import { type ListenerInfo, RequestContext } from "./context.js";
import type { RegistryApi } from "./registry-api.js";
import { sendError } from "./respond.js";
import { parsePath, splitTarget } from "./routes.js";
import type { ServedCertificate } from "./served-certificate.js";

/** A non-registry endpoint (status, metrics, health, token) and the methods it answers. */
export interface SideRoute {
  readonly methods: readonly string[];
  handle(ctx: RequestContext): Promise<void> | void;
}

/** Non-registry endpoints by path. */
export type SideRoutes = ReadonlyMap<string, SideRoute>;

/** Called once per finished request, e.g. to count it in metrics. */
export type RequestObserver = (ctx: RequestContext, status: number, seconds: number) => void;

/** Query parameters whose values must never reach a log line. */
const SECRET_PARAMS = /^(password|token|access_token|refresh_token|secret|_state)$/i;

function loggablePath(ctx: RequestContext): string {
  if ([...ctx.query.keys()].length === 0) return ctx.path;
  const query = new URLSearchParams();
  for (const [key, value] of ctx.query) query.append(key, SECRET_PARAMS.test(key) ? "REDACTED" : value);
  return `${ctx.path}?${query}`;
}

/**
 * The request listener: parse the target, dispatch, answer errors in the spec's envelope,
 * and write exactly one access-log line per request when the response is finished or aborted.
 */
export function createRequestHandler(options: {
  api: RegistryApi;
  sideRoutes: SideRoutes;
  logger: Logger;
  listener: ListenerInfo;
  observe?: RequestObserver;
}): (req: IncomingMessage, res: ServerResponse) => void {
  const { api, sideRoutes, logger, listener, observe } = options;
  return (req, res) => {
    const ctx = new RequestContext(req, res, logger, listener, splitTarget(req.url ?? "/"));
    const remote = req.socket.remoteAddress;
    let logged = false;
    // 'finish' when the whole response was handed to the socket, 'close' alone when it was cut short.
    const log = () => {
      if (logged) return;
      logged = true;
      const seconds = (performance.now() - ctx.started) / 1000;
      const status = res.headersSent ? res.statusCode : 0;
      observe?.(ctx, status, seconds);
      logger.info(
        {
          reqId: ctx.id,
          method: ctx.method,
          path: loggablePath(ctx),
          status,
          ms: Math.round(seconds * 1000 * 10) / 10,
          bytes: ctx.bytes,
          ...(ctx.repository === undefined ? {} : { repo: ctx.repository }),
          ...(ctx.user === undefined ? {} : { user: ctx.user }),
          ...(ctx.cache === undefined ? {} : { cache: ctx.cache }),
          ...(ctx.errorCode === undefined ? {} : { error: ctx.errorCode }),
          ...(res.writableFinished ? {} : { aborted: true }),
          remote,
          ua: req.headers["user-agent"],
        },
        "request",
      );
    };
    res.once("finish", log);
    res.once("close", log);
    void dispatch(ctx, api, sideRoutes).catch((error: unknown) => sendError(ctx, error));
  };
}

async function dispatch(ctx: RequestContext, api: RegistryApi, sideRoutes: SideRoutes): Promise<void> {
  const parsed = parsePath(ctx.path);
  if (parsed.kind === "registry") {
    ctx.route = parsed.route.kind;
    return api.handle(ctx, parsed.route);
  }
  if (parsed.kind === "invalid") throw new OciError("NAME_INVALID", { message: parsed.reason });
  const side = sideRoutes.get(ctx.path);
  if (side?.methods.includes(ctx.method)) return side.handle(ctx);
  if (side) throw new OciError("UNSUPPORTED", { message: `${ctx.method} is not supported here` });
  throw new OciError("NAME_UNKNOWN", { status: 404, message: `nothing at ${ctx.path}` });
}

export interface ServerTimeouts {
  /** Time allowed to receive a request's headers (slowloris guard). */
  readonly headersMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveMs: number;
}

/** A plain HTTP server, or with `certificate` an HTTPS one that follows its reloads. */
export function createHttpServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  timeouts: ServerTimeouts,
  certificate?: ServedCertificate,
): Server {
  const options = {
    // Whole-request time is unbounded: a layer upload or download may take long on a slow link.
    requestTimeout: 0,
    headersTimeout: timeouts.headersMs,
    keepAliveTimeout: timeouts.keepAliveMs,
  };
  if (certificate === undefined) return createServer(options, handler);
  // The handshake comes before the headers' clock starts: it gets the same allowance, not Node's 120 s.
  const secure = { ...options, handshakeTimeout: timeouts.headersMs, ...certificate.secureOptions };
  return certificate.serve(createHttpsServer(secure, handler));
}
