import type { IncomingMessage } from "node:http";
import type { Clock } from "../util/clock.js";

/** How slowly a request body may arrive (config `limits.body_idle_timeout` and `body_min_rate`). */
export interface BodyRateLimits {
  /** How far, in time, a body may fall behind `minBytesPerSecond`; 0 turns the guard off. */
  readonly idleMs: number;
  /** The average rate a body must keep up; 0 leaves a plain idle timeout. */
  readonly minBytesPerSecond: number;
}

/** performance.now() counted from the epoch: a clock that does not jump when the wall clock is set. */
const steadyClock: Clock = { now: () => performance.timeOrigin + performance.now() };

/** Milliseconds of credit that `bytes` buy; without a minimum rate, any byte refills it all. */
function creditFor(bytes: number, limits: BodyRateLimits): number {
  if (limits.minBytesPerSecond > 0) return (bytes * 1000) / limits.minBytesPerSecond;
  return bytes > 0 ? limits.idleMs : 0;
}

/**
 * Watches a request body arrive and calls `tooSlow` once when the client falls behind.
 *
 * A token bucket over the socket's received bytes: the request starts with `idleMs` of credit,
 * waiting for the client spends it, each byte buys back `1/minBytesPerSecond` s, and the credit
 * never exceeds `idleMs`. So a body may stall at most `idleMs` at any point, and one that keeps
 * coming slower than the minimum rate runs out; a slow but steady upload above the rate never
 * does, however long it takes. Time in which wharf itself is not reading (the request's buffer is
 * full because a disk or a handler is slow) costs the client nothing.
 *
 * Watching stops once the body is complete or the connection is gone. `clock` is for tests, which
 * move time by hand; the checks themselves stay on a timer.
 */
export function guardBody(
  req: IncomingMessage,
  limits: BodyRateLimits,
  tooSlow: () => void,
  clock: Clock = steadyClock,
): void {
  if (limits.idleMs <= 0) return;
  const socket = req.socket;
  let credit = limits.idleMs;
  let lastTick = clock.now();
  let lastBytes = socket.bytesRead;
  const tick = () => {
    if (req.complete || req.destroyed || socket.destroyed) return stop();
    const now = clock.now();
    const received = socket.bytesRead - lastBytes;
    const waitingForWharf = socket.isPaused() || req.readableLength >= req.readableHighWaterMark;
    if (waitingForWharf) credit = limits.idleMs;
    else credit = Math.min(limits.idleMs, credit - (now - lastTick) + creditFor(received, limits));
    lastTick = now;
    lastBytes = socket.bytesRead;
    if (credit <= 0) {
      stop();
      tooSlow();
    }
  };
  // Checked a few times per allowance, so a cut comes at most a quarter of it late.
  const timer = setInterval(tick, Math.max(50, Math.min(1000, limits.idleMs / 4)));
  timer.unref();
  function stop(): void {
    clearInterval(timer);
  }
}
