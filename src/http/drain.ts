import type { Server, ServerResponse } from "node:http";

/** How often idle keep-alive connections are looked for while draining, besides after each response. */
const IDLE_SWEEP_MS = 250;

/**
 * The listeners' side of a graceful stop. It counts requests in flight, each until its response
 * has closed and its handler has settled (a handler may still be running after the client left,
 * and must not meet closed databases). Draining stops the listeners at once, tells every
 * keep-alive client `Connection: close` on its next answer and closes idle connections; `cutOff`
 * ends whatever still runs.
 */
export class Drain {
  readonly #servers: Server[] = [];
  /** Open responses from before a drain: those not answered yet get `Connection: close` when it begins. */
  readonly #unanswered = new Set<ServerResponse>();
  #active = 0;
  #draining = false;
  #sweep: NodeJS.Timeout | undefined;

  add(server: Server): void {
    this.#servers.push(server);
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Requests whose response or handler is not done yet. */
  get active(): number {
    return this.#active;
  }

  /**
   * Counts a request from its arrival; call before anything may answer it. The returned
   * function is called once its handler has settled.
   */
  track(res: ServerResponse): () => void {
    this.#active++;
    if (this.#draining) res.setHeader("connection", "close");
    else this.#unanswered.add(res);
    let pending = 2;
    const done = () => {
      if (--pending > 0) return;
      this.#active--;
      // The connection this response leaves idle is closed now rather than at the next sweep.
      if (this.#draining) setImmediate(() => this.#closeIdle());
    };
    res.once("close", () => {
      this.#unanswered.delete(res);
      done();
    });
    let settled = false;
    return () => {
      if (settled) return;
      settled = true;
      done();
    };
  }

  /** Stops accepting connections, asks keep-alive clients to leave and closes idle connections. */
  begin(): void {
    if (this.#draining) return;
    this.#draining = true;
    for (const res of this.#unanswered) if (!res.headersSent) res.setHeader("connection", "close");
    this.#unanswered.clear();
    // close() also closes the connections idle at this moment; later ones are swept.
    for (const server of this.#servers) server.close(() => {});
    this.#sweep = setInterval(() => this.#closeIdle(), IDLE_SWEEP_MS);
    this.#sweep.unref();
  }

  /** Closes every connection, busy or not: the grace period is over. */
  cutOff(): void {
    this.begin();
    for (const server of this.#servers) server.closeAllConnections();
  }

  /** Ends the sweep; the listeners are closed. */
  end(): void {
    clearInterval(this.#sweep);
  }

  #closeIdle(): void {
    for (const server of this.#servers) server.closeIdleConnections();
  }
}
