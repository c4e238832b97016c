// The slow-body guard's token bucket, on real sockets with time moved by hand: the guard reads a
// manual clock and its periodic check runs on a mocked interval that the test fires, so each case
// says at which millisecond a body is cut, and none depends on how fast the machine runs. Only the
// bytes travel in real time, and each case waits until the server has read them.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, mock, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type BodyRateLimits, guardBody } from "../../src/http/body-guard.js";
import { RawConnection } from "../harness/http/raw-socket.js";

const IDLE_MS = 300;
/** The guard checks four times per allowance: one check's interval, on the mocked timer. */
const CHECK_MS = IDLE_MS / 4;
const KiB = 1024;

/** Time that moves only when a test says so. */
const clock = {
  at: 0,
  now(): number {
    return this.at;
  },
};

interface Guarded {
  req: IncomingMessage;
  /** The clock's reading when the guard fired; undefined while it has not. */
  firedAt: number | undefined;
}

/**
 * A server whose handler guards the body with limits taken from the path (`/<idleMs>/<rate>/…`),
 * reads it unless the path ends in `/hold`, and records each request for the test to look at.
 */
function guardedServer(): { server: Server; guarded: Map<string, Guarded> } {
  const guarded = new Map<string, Guarded>();
  const server = createServer((req: IncomingMessage, res) => {
    const [, idle, rate, mode] = (req.url ?? "").split("/");
    const limits: BodyRateLimits = { idleMs: Number(idle), minBytesPerSecond: Number(rate) };
    const entry: Guarded = { req, firedAt: undefined };
    guarded.set(req.url ?? "", entry);
    guardBody(
      req,
      limits,
      () => {
        entry.firedAt = clock.now();
        req.socket.destroy();
      },
      clock,
    );
    if (mode === "hold") return;
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  return { server, guarded };
}

/** Polls `done` every few ms; throws after `timeoutMs` of real time (a hang, not slowness). */
async function until(done: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(5);
  }
}

describe("guardBody", () => {
  const { server, guarded } = guardedServer();
  let port: number;

  before(async () => {
    // the guard's setInterval only: sockets, and the waits below, keep real time
    mock.timers.enable({ apis: ["setInterval"] });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(
    () =>
      new Promise<void>((resolve) => {
        mock.timers.reset();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );

  /** One run of the guard's check, at the clock's reading now. */
  const check = () => mock.timers.tick(CHECK_MS);

  /** A PUT of `length` body bytes to `path`, its head sent, its guard started at clock 0. */
  async function open(path: string, length: number) {
    clock.at = 0;
    const connection = await RawConnection.open("127.0.0.1", port);
    connection.write(`PUT ${path} HTTP/1.1\r\nhost: t\r\ncontent-length: ${length}\r\n\r\n`);
    await until(() => guarded.has(path), "the request reached the handler");
    const entry = guarded.get(path) as Guarded;
    const head = entry.req.socket.bytesRead;
    return {
      connection,
      entry,
      /** Sends `bytes` of body, waits until the server's socket has read them, and lets the guard count them. */
      async send(bytes: number): Promise<void> {
        const target = entry.req.socket.bytesRead + bytes;
        connection.write(Buffer.alloc(bytes, "b"));
        await until(() => entry.req.socket.bytesRead >= target, `${bytes} body bytes arrived`);
        check();
      },
      /** Body bytes the server has read so far. */
      bodyRead: () => entry.req.socket.bytesRead - head,
    };
  }

  /** Moves the clock to `at` and lets the guard check: it must not fire. */
  function notCutAt(entry: Guarded, at: number): void {
    clock.at = at;
    check();
    assert.equal(entry.firedAt, undefined, `cut at ${at} ms`);
  }

  /** Moves the clock to `at` and lets the guard check: it must fire now. */
  function cutAt(entry: Guarded, at: number): void {
    clock.at = at;
    check();
    assert.equal(entry.firedAt, at, `not cut at ${at} ms`);
  }

  test("a body that does not come is cut once the idle allowance is spent, not a millisecond before", async () => {
    const { connection, entry } = await open(`/${IDLE_MS}/1024/a`, 1000);
    notCutAt(entry, IDLE_MS - 1);
    cutAt(entry, IDLE_MS);
    assert.ok(await connection.closedWithin(10_000), "the connection is closed");
  });

  test("bytes slower than the minimum rate buy back less than the time spends: cut when the credit runs out", async () => {
    // 1 KiB/s: 100 bytes buy 97.66 ms of the 300 ms allowance, which runs out at 300 + 97.66 ms
    const { entry, send } = await open(`/${IDLE_MS}/1024/b`, 1000);
    notCutAt(entry, 200);
    await send(100);
    notCutAt(entry, 397);
    cutAt(entry, 398);
  });

  test("a slow but steady body above the rate passes, however many allowances it takes", async () => {
    // 200 bytes per 100 ms is 2 KiB/s, twice the minimum: eight rounds are 800 ms, almost three allowances
    const path = `/${IDLE_MS}/1024/c`;
    const { connection, entry, send } = await open(path, 8 * 200);
    for (let round = 1; round <= 8; round++) {
      notCutAt(entry, round * 100);
      await send(200);
    }
    const answer = await connection.answer();
    connection.destroy();
    assert.equal(answer.status, 200);
    assert.equal(entry.firedAt, undefined);
  });

  test("a body that stalls longer than the allowance is cut, whatever came before", async () => {
    const { entry, send } = await open(`/${IDLE_MS}/1024/d`, 100_000);
    // 50 000 bytes would buy 48 s: credit never exceeds one allowance
    await send(50_000);
    notCutAt(entry, IDLE_MS - 1);
    cutAt(entry, IDLE_MS);
  });

  test("with no minimum rate, only stalls count: a trickle survives", async () => {
    const { connection, entry, send } = await open(`/${IDLE_MS}/0/e`, 5);
    // a byte every 250 ms: five bytes over 1.25 s, four allowances, each byte refilling it all
    for (let round = 1; round <= 5; round++) {
      notCutAt(entry, round * 250);
      await send(1);
    }
    const answer = await connection.answer();
    connection.destroy();
    assert.equal(answer.status, 200);
  });

  test("time in which the server does not read costs the client nothing", async () => {
    const { connection, entry, bodyRead } = await open(`/${IDLE_MS}/1024/hold`, 10_000_000);
    // More than the request's buffer holds: the server stops reading, the client is blocked.
    connection.write(Buffer.alloc(4 * 1024 * KiB));
    await until(
      () => entry.req.readableLength >= entry.req.readableHighWaterMark,
      "the request's buffer filled up",
    );
    const read = bodyRead();
    notCutAt(entry, IDLE_MS * 4);
    notCutAt(entry, IDLE_MS * 40);
    assert.equal(connection.closed, false);
    assert.equal(bodyRead(), read, "and the server really read nothing meanwhile");
    connection.destroy();
  });

  test("an allowance of 0 turns the guard off", async () => {
    const { connection, entry } = await open("/0/1024/f", 10);
    notCutAt(entry, 60_000);
    assert.equal(connection.closed, false);
    connection.destroy();
  });
});
