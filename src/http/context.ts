import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { CacheStatus } from "../repos/repository.js";

/** Where a request arrived: the main listener or one bound to a repository. */
export interface ListenerInfo {
  readonly boundRepository?: string;
}

/**
 * One request's state, from routing to the access log. Handlers fill in what the log line
 * should say (repository, cache outcome, body bytes); nothing else is shared between them.
 */
export class RequestContext {
  readonly id = randomUUID();
  readonly started = performance.now();
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly log: Logger;
  readonly listener: ListenerInfo;
  readonly path: string;
  readonly query: URLSearchParams;
  /** The authenticated user, for the access log. */
  user: string | undefined;
  /** The route kind (`manifest`, `blob`…), for metrics. */
  route: string | undefined;
  repository: string | undefined;
  /** The repository whose content answered: `repository` itself, or a member of that group. */
  servedBy: string | undefined;
  cache: CacheStatus | undefined;
  /** What a push or delete changed, in the repository that took it: for the activity log. */
  changed: { readonly repo: string; readonly name: string; readonly reference: string } | undefined;
  /** Response body bytes, as far as the handler knows them. */
  bytes = 0;
  /**
   * The whole body went out. A body sent with sendfile reaches the client before the response is
   * ended, so a client that hangs up at once may close it before it counts as finished.
   */
  delivered = false;
  /** The OCI error code sent, if any. */
  errorCode: string | undefined;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    log: Logger,
    listener: ListenerInfo,
    target: { path: string; query: URLSearchParams },
  ) {
    this.req = req;
    this.res = res;
    this.log = log;
    this.listener = listener;
    this.path = target.path;
    this.query = target.query;
  }

  get method(): string {
    return this.req.method ?? "GET";
  }

  header(name: string): string | undefined {
    const value = this.req.headers[name];
    return Array.isArray(value) ? value.join(", ") : value;
  }
}
