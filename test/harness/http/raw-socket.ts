import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

// HTTP/1.1 spoken byte by byte over a TCP socket, for requests no HTTP client would send: bytes a
// URL parser would reject or normalise, broken framing, heads and bodies that never end or arrive
// one byte a second. One answer is read back; what the server did with the connection is observed.

export interface RawAnswer {
  /** 0 when the connection closed before a status line arrived. */
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** Milliseconds from opening the connection to the complete answer (or the close). */
  ms: number;
}

/** A client connection that never fails a test by itself: errors just mean "closed". */
export class RawConnection {
  readonly #socket: net.Socket;
  readonly #opened = performance.now();
  #received = Buffer.alloc(0);
  #closed = false;
  #closedAt = 0;
  readonly #waiters = new Set<() => void>();
  /** Bytes written so far. */
  sent = 0;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.#received = Buffer.concat([this.#received, chunk]);
      this.#notify();
    });
    // The server answering and hanging up while we still write is an expected ending here.
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#closed = true;
      this.#closedAt = performance.now();
      this.#notify();
    });
  }

  static open(host: string, port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      socket.once("connect", () => resolve(new RawConnection(socket)));
      socket.once("error", reject);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Milliseconds from opening to the server's close; undefined while open. */
  get closedAfterMs(): number | undefined {
    return this.#closed ? this.#closedAt - this.#opened : undefined;
  }

  write(data: string | Buffer): void {
    if (this.#closed || this.#socket.destroyed || !this.#socket.writable) return;
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    this.sent += bytes.length;
    this.#socket.write(bytes);
  }

  /** Whether the socket can take more without queueing in this process. */
  get ready(): boolean {
    return this.#socket.writableLength < 1024 * 1024;
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #notify(): void {
    for (const wake of this.#waiters) wake();
  }

  /** Resolves when `done()` holds, re-checked on every byte and on close; rejects after timeoutMs. */
  async #until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!done()) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }

  /**
   * The next complete answer (interim 1xx answers skipped), or status 0 if the server closed the
   * connection first. A HEAD answer has no body whatever its Content-Length says.
   */
  async answer(opts: { timeoutMs?: number; head?: boolean } = {}): Promise<RawAnswer> {
    let parsed: RawAnswer | undefined;
    await this.#until(
      () => {
        parsed = this.#parse(opts.head ?? false);
        return parsed !== undefined || this.#closed;
      },
      opts.timeoutMs ?? 10_000,
      "no answer and no close",
    );
    return parsed ?? { status: 0, headers: {}, body: Buffer.alloc(0), ms: performance.now() - this.#opened };
  }

  /** True once the server has closed the connection, false if it is still open after timeoutMs. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    try {
      await this.#until(() => this.#closed, timeoutMs, "still open");
      return true;
    } catch {
      return false;
    }
  }

  #parse(head: boolean): RawAnswer | undefined {
    for (;;) {
      const end = this.#received.indexOf("\r\n\r\n");
      if (end < 0) return undefined;
      const lines = this.#received.subarray(0, end).toString("latin1").split("\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      if (status >= 100 && status < 200) {
        this.#received = this.#received.subarray(end + 4);
        continue;
      }
      const length = head ? 0 : Number(headers["content-length"] ?? Number.NaN);
      const available = this.#received.length - end - 4;
      // Without a length the body runs to the close.
      if (Number.isNaN(length) ? !this.#closed : available < length) return undefined;
      const body = this.#received.subarray(end + 4, end + 4 + (Number.isNaN(length) ? available : length));
      this.#received = this.#received.subarray(end + 4 + body.length);
      return { status, headers, body: Buffer.from(body), ms: performance.now() - this.#opened };
    }
  }
}

/** Opens a connection to `base` (http://host:port), sends `request` whole and reads one answer. */
export async function rawExchange(
  base: string,
  request: string | Buffer,
  opts: { timeoutMs?: number; head?: boolean } = {},
): Promise<RawAnswer & { connection: RawConnection }> {
  const url = new URL(base);
  const connection = await RawConnection.open(url.hostname, Number(url.port));
  connection.write(request);
  const answer = await connection.answer(opts);
  return { ...answer, connection };
}

/** Writes `total` bytes (or forever) at about `bytesPerSecond`, in ten slices a second, until closed. */
export async function dribble(
  connection: RawConnection,
  bytesPerSecond: number,
  total = Number.POSITIVE_INFINITY,
  byte = "a",
): Promise<void> {
  const slice = Math.max(1, Math.round(bytesPerSecond / 10));
  const interval = Math.max(10, Math.round((slice / bytesPerSecond) * 1000));
  let written = 0;
  while (written < total && !connection.closed) {
    const n = Math.min(slice, total - written);
    connection.write(byte.repeat(n));
    written += n;
    await sleep(interval);
  }
}

/** Writes `chunk` as fast as the connection takes it, until the server closes or `stopAfterMs`. */
export async function flood(connection: RawConnection, chunk: Buffer, stopAfterMs: number): Promise<void> {
  const deadline = performance.now() + stopAfterMs;
  while (!connection.closed && performance.now() < deadline) {
    if (connection.ready) connection.write(chunk);
    // Yield every round, so the answer can be read while we write.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
