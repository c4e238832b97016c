import type { Duplex } from "node:stream";

/** How long a closing connection is kept so the client can read the last answer. */
const LINGER_MS = 2000;

const closing = new WeakSet<Duplex>();

/** Whether the connection is already being closed by hangUp(). */
export function hangingUp(socket: Duplex): boolean {
  return closing.has(socket);
}

/**
 * Closes a connection in stages, as RFC 9112 §9.6 asks when the client may still be sending:
 * send what is left (and `answer`), half-close, and destroy the socket only after a moment.
 * Destroying it at once over unread bytes makes the kernel reset the connection, and a client still
 * writing a body it was refused would often lose the refusal in that reset.
 */
export function hangUp(socket: Duplex, answer?: string): void {
  if (closing.has(socket)) return;
  closing.add(socket);
  if (socket.writable) socket.end(answer);
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
}
