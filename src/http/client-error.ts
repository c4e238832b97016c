import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { OciError } from "../oci/errors.js";
import { hangingUp, hangUp } from "./hang-up.js";
import { API_VERSION_HEADER } from "./respond.js";

/**
 * Responses not yet finished, per connection. A refusal written straight to the socket must not
 * land inside another response's bytes, which can happen when requests are pipelined.
 */
export class OpenResponses {
  readonly #open = new WeakMap<Duplex, Set<ServerResponse>>();

  track(socket: Duplex, res: ServerResponse): void {
    const open = this.#open.get(socket) ?? new Set<ServerResponse>();
    this.#open.set(socket, open);
    open.add(res);
    res.once("close", () => open.delete(res));
  }

  /** True when nothing has been written for any request on this connection that is still open. */
  quiet(socket: Duplex): boolean {
    const open = this.#open.get(socket);
    if (!open || open.size === 0) return true;
    return open.size === 1 && [...open].every((res) => !res.headersSent);
  }
}

/** What Node's parser and timers refuse, as the status the client should hear. */
function refusal(error: NodeJS.ErrnoException & { reason?: unknown }): OciError {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return new OciError("UNKNOWN", { status: 431, message: "request header fields too large" });
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return new OciError("UNKNOWN", { status: 413, message: "chunk extensions too large" });
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new OciError("UNKNOWN", { status: 408, message: "the request head did not arrive in time" });
    default:
      return new OciError("UNKNOWN", {
        status: 400,
        message: "malformed HTTP request",
        ...(typeof error.reason === "string" ? { detail: { reason: error.reason } } : {}),
      });
  }
}

/** A complete response in the spec's envelope that also hangs up, for writing straight to a socket. */
function rawAnswer(error: OciError): string {
  const body = JSON.stringify(error.toJSON());
  const headers = {
    ...API_VERSION_HEADER,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    connection: "close",
  };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ""}\r\n${lines.join("")}\r\n${body}`;
}

/** Writes the answer if it can reach the client cleanly, then closes the connection either way. */
function answerAndClose(socket: Duplex, open: OpenResponses, error: OciError): void {
  // The parser complains again about every further byte of a connection that is already closing.
  if (hangingUp(socket)) return;
  if (socket.writable && open.quiet(socket)) hangUp(socket, rawAnswer(error));
  else socket.destroy();
}

/**
 * The server's `clientError` listener: what Node refuses before a request reaches wharf (bad
 * syntax, smuggling attempts such as Content-Length with Transfer-Encoding, oversized heads, heads
 * that arrive too slowly) gets the spec's error envelope with the status Node would have chosen,
 * and the connection is closed.
 */
export function clientErrorListener(
  logger: Logger,
  open: OpenResponses,
): (error: NodeJS.ErrnoException, socket: Duplex) => void {
  return (error, socket) => {
    if (error.code === "ECONNRESET" || error.code === "EPIPE") {
      socket.destroy();
      return;
    }
    // podman, skopeo and dockerd try HTTPS first on a registry they may reach over HTTP: routine,
    // and an HTTP answer means nothing to a TLS client.
    if (isTlsHandshake(error)) {
      logger.debug({ remote: remoteOf(socket) }, "TLS handshake on a plain HTTP port: closed");
      socket.destroy();
      return;
    }
    const answer = refusal(error);
    const timeout = answer.status === 408;
    // Idle connections timing out are routine; refused requests are worth an operator's eye.
    logger[timeout ? "debug" : "info"](
      {
        status: answer.status,
        error: error.code,
        remote: remoteOf(socket),
      },
      "request refused by the HTTP parser",
    );
    answerAndClose(socket, open, answer);
  };
}

function remoteOf(socket: Duplex): string | undefined {
  return socket instanceof Socket ? socket.remoteAddress : undefined;
}

/** A TLS record starts with content type 22 (handshake) and major version 3. */
function isTlsHandshake(error: NodeJS.ErrnoException & { rawPacket?: unknown }): boolean {
  const packet = error.rawPacket;
  return Buffer.isBuffer(packet) && packet[0] === 0x16 && packet[1] === 0x03;
}

/** `CONNECT` asks for a tunnel, which a registry never provides: 405, then hang up. */
export function connectListener(open: OpenResponses): (req: IncomingMessage, socket: Duplex) => void {
  return (req, socket) =>
    answerAndClose(
      socket,
      open,
      new OciError("UNSUPPORTED", { message: `${req.method ?? "CONNECT"} is not supported here` }),
    );
}
