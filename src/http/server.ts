import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { OciError } from "../oci/errors.js";
import { type BodyRateLimits, guardBody } from "./body-guard.js";
import { clientErrorListener, connectListener, OpenResponses } from "./client-error.js";
import { type ListenerInfo, RequestContext } from "./context.js";
import type { Drain } from "./drain.js";
import { hangUp } from "./hang-up.js";
import type { RegistryApi } from "./registry-api.js";
import { announcesBody } from "./request-body.js";
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

/**
 * A handler for every path under a prefix (the admin API, the dashboard's files), asked after the
 * registry API and the side routes, in order: the first whose prefix the path starts with answers.
 */
export interface PrefixRoute {
  readonly prefix: string;
  handle(ctx: RequestContext): Promise<void>;
}

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
  prefixRoutes?: readonly PrefixRoute[];
  logger: Logger;
  listener: ListenerInfo;
  observe?: RequestObserver;
  body: BodyRateLimits;
  /** Counts requests in flight for a graceful stop. */
  drain?: Drain;
}): (req: IncomingMessage, res: ServerResponse) => void {
  const { api, sideRoutes, logger, listener, observe, body, drain } = options;
  const prefixRoutes = options.prefixRoutes ?? [];
  // The access line is made of the fields named below and nothing else: none holds a secret (the
  // path's secret parameters are masked), so the logger's redaction, the second line of defence
  // for lines that carry what the code hands them, has nothing to find in it. Searching it anyway
  // was a twelfth of a warm manifest GET.
  const accessLog = logger.child({}, { redact: [] });
  return (req, res) => {
    // First, so that a drain that has begun can still say `Connection: close` in the answer.
    const handled = drain?.track(res);
    const ctx = new RequestContext(req, res, logger, listener, splitTarget(req.url ?? "/"));
    const remote = req.socket.remoteAddress;
    let logged = false;
    // Logged and counted once the handler is done as well: a body sent with sendfile may be closed
    // by a client that has it all before the handler knows it went out (ctx.delivered), which is
    // then no aborted response.
    let ended: { status: number; seconds: number } | undefined;
    let settled = false;
    const finishIfDone = () => {
      if (logged || !ended || !settled) return;
      logged = true;
      observe?.(ctx, ended.status, ended.seconds);
      accessLog.info(
        {
          reqId: ctx.id,
          method: ctx.method,
          path: loggablePath(ctx),
          status: ended.status,
          ms: Math.round(ended.seconds * 1000 * 10) / 10,
          bytes: ctx.bytes,
          ...(ctx.repository === undefined ? {} : { repo: ctx.repository }),
          ...(ctx.user === undefined ? {} : { user: ctx.user }),
          ...(ctx.cache === undefined ? {} : { cache: ctx.cache }),
          ...(ctx.errorCode === undefined ? {} : { error: ctx.errorCode }),
          ...(res.writableFinished || ctx.delivered ? {} : { aborted: true }),
          remote,
          ua: req.headers["user-agent"],
        },
        "request",
      );
    };
    // 'finish' when the whole response was handed to the socket, 'close' alone when it was cut short.
    const end = () => {
      ended ??= {
        status: res.headersSent ? res.statusCode : 0,
        seconds: (performance.now() - ctx.started) / 1000,
      };
      finishIfDone();
    };
    res.once("finish", end);
    res.once("close", end);
    // Guarded until the body is complete, also after an early answer while Node drains the rest.
    const socket = req.socket;
    // Once an answer went out, Node no longer tells the request that its connection closed: a
    // handler still reading the body (a refused slow upload) would wait for it forever.
    const abandon = () => {
      if (!req.complete) req.destroy(new Error("the connection closed before the request body was complete"));
    };
    if (announcesBody(req)) {
      guardBody(req, body, () => refuseSlowBody(ctx, socket));
      socket.once("close", abandon);
    }
    void dispatch(ctx, api, sideRoutes, prefixRoutes)
      .catch((error: unknown) => sendError(ctx, error))
      .finally(() => {
        socket.off("close", abandon);
        handled?.();
        settled = true;
        finishIfDone();
      });
  };
}

/** A body that fell behind `limits.body_min_rate`: 408 if nothing was answered yet, and hang up. */
function refuseSlowBody(ctx: RequestContext, socket: Socket): void {
  ctx.log.info({ reqId: ctx.id, path: ctx.path }, "request body arrived too slowly: connection closed");
  if (ctx.res.headersSent) {
    socket.destroy();
    return;
  }
  sendError(
    ctx,
    new OciError("UNKNOWN", {
      status: 408,
      message: "the request body arrived too slowly",
      headers: { connection: "close" },
    }),
  );
}

async function dispatch(
  ctx: RequestContext,
  api: RegistryApi,
  sideRoutes: SideRoutes,
  prefixRoutes: readonly PrefixRoute[],
): Promise<void> {
  // Checked here rather than by Node, so the refusal comes in the spec's envelope.
  if (ctx.req.httpVersion === "1.1" && ctx.req.headers.host === undefined) {
    throw new OciError("UNKNOWN", { status: 400, message: "an HTTP/1.1 request needs a Host header" });
  }
  const parsed = parsePath(ctx.path);
  if (parsed.kind === "registry") {
    ctx.route = parsed.route.kind;
    return api.handle(ctx, parsed.route);
  }
  if (parsed.kind === "invalid") throw new OciError("NAME_INVALID", { message: parsed.reason });
  const side = sideRoutes.get(ctx.path);
  if (side?.methods.includes(ctx.method)) return side.handle(ctx);
  if (side) throw new OciError("UNSUPPORTED", { message: `${ctx.method} is not supported here` });
  const prefixed = prefixRoutes.find((route) => ctx.path.startsWith(route.prefix));
  if (prefixed) return prefixed.handle(ctx);
  throw new OciError("NAME_UNKNOWN", { status: 404, message: `nothing at ${ctx.path}` });
}

/** What one listener allows its clients (config `limits`). */
export interface ServerLimits {
  /** Time allowed to receive a request's head (slowloris guard). */
  readonly headersMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveMs: number;
  /** Largest request head; Node answers a larger one with 431. */
  readonly maxHeaderBytes: number;
  /** Connections beyond this are closed as soon as they are accepted. */
  readonly maxConnections: number;
}

/** How often a full listener is reported at most: a flood must not become a flood of log lines. */
const DROP_LOG_INTERVAL_MS = 10_000;

/** A plain HTTP server, or with `certificate` an HTTPS one that follows its reloads. */
export function createHttpServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  limits: ServerLimits,
  logger: Logger,
  certificate?: ServedCertificate,
): Server {
  const open = new OpenResponses();
  const options = {
    // Whole-request time is unbounded: a layer upload or download may take long on a slow link.
    // Slow request bodies are the body guard's business (limits.body_*).
    requestTimeout: 0,
    headersTimeout: limits.headersMs,
    keepAliveTimeout: limits.keepAliveMs,
    maxHeaderSize: limits.maxHeaderBytes,
    // Node checks head deadlines only this often (30 s by default): often enough to keep them.
    connectionsCheckingInterval: Math.max(100, Math.min(5000, limits.headersMs / 4)),
    requireHostHeader: false,
  };
  const guarded = (req: IncomingMessage, res: ServerResponse) => {
    // Captured: Node detaches the socket from a request whose body stream was torn down.
    const socket = req.socket;
    open.track(socket, res);
    // Node closes a connection after an answer that says `Connection: close`; the client may
    // still be sending a body it was refused, so the close is staged rather than immediate.
    // Set per request, not per connection: over TLS the request's socket is not the accepted one.
    socket.destroySoon = () => hangUp(socket);
    handler(req, res);
  };
  // The handshake comes before the headers' clock starts: it gets the same allowance, not Node's 120 s.
  const server =
    certificate === undefined
      ? createServer(options, guarded)
      : certificate.serve(
          createHttpsServer(
            { ...options, handshakeTimeout: limits.headersMs, ...certificate.secureOptions },
            guarded,
          ),
        );
  server.maxConnections = limits.maxConnections;
  server.on("clientError", clientErrorListener(logger, open));
  server.on("connect", connectListener(open));
  let lastDropLog = Number.NEGATIVE_INFINITY;
  server.on("drop", () => {
    if (performance.now() - lastDropLog < DROP_LOG_INTERVAL_MS) return;
    lastDropLog = performance.now();
    logger.warn(
      { maxConnections: limits.maxConnections },
      "connection limit reached: new connections are closed",
    );
  });
  return server;
}
