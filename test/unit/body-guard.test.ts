import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type BodyRateLimits, guardBody } from "../../src/http/body-guard.js";
import { dribble, RawConnection } from "../harness/http/raw-socket.js";

const IDLE_MS = 300;

/**
 * A server whose handler guards the body with `limits` taken from the path (`/<idleMs>/<rate>`),
 * reads it unless the path ends in `/hold`, and reports whether the guard fired.
 */
function guardedServer(): { server: Server; fired: Map<string, number> } {
  const fired = new Map<string, number>();
  const server = createServer((req: IncomingMessage, res) => {
    const [, idle, rate, mode] = (req.url ?? "").split("/");
    const limits: BodyRateLimits = { idleMs: Number(idle), minBytesPerSecond: Number(rate) };
    const started = performance.now();
    guardBody(req, limits, () => {
      fired.set(req.url ?? "", performance.now() - started);
      req.socket.destroy();
    });
    if (mode === "hold") return;
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  return { server, fired };
}

describe("guardBody", () => {
  const { server, fired } = guardedServer();
  let port: number;

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );

  /** Sends a body of `total` bytes at `rate` bytes a second to `path`; the status, or 0 if cut. */
  async function upload(path: string, total: number, rate: number): Promise<number> {
    const connection = await RawConnection.open("127.0.0.1", port);
    connection.write(`PUT ${path} HTTP/1.1\r\nhost: t\r\ncontent-length: ${total}\r\n\r\n`);
    await dribble(connection, rate, total);
    const answer = await connection.answer({ timeoutMs: 5000 });
    connection.destroy();
    return answer.status;
  }

  test("a body at 10 bytes a second is cut after about the idle allowance", async () => {
    const path = `/${IDLE_MS}/1024/a`;
    assert.equal(await upload(path, 1000, 10), 0);
    const after = fired.get(path) ?? Number.NaN;
    assert.ok(after >= IDLE_MS && after < IDLE_MS * 2 + 100, `cut after ${after} ms`);
  });

  test("a slow but steady body above the rate passes, however many allowances it takes", async () => {
    const path = `/${IDLE_MS}/1024/b`;
    // 8 KiB/s for about 1.2 s: four allowances long, eight times the rate.
    assert.equal(await upload(path, 10 * 1024, 8 * 1024), 200);
    assert.equal(fired.has(path), false);
  });

  test("a body that stalls longer than the allowance is cut, whatever came before", async () => {
    const path = `/${IDLE_MS}/1024/c`;
    const connection = await RawConnection.open("127.0.0.1", port);
    connection.write(`PUT ${path} HTTP/1.1\r\nhost: t\r\ncontent-length: 100000\r\n\r\n`);
    connection.write(Buffer.alloc(50_000));
    assert.ok(await connection.closedWithin(IDLE_MS * 3), "cut during the stall");
    assert.ok(fired.has(path));
  });

  test("with no minimum rate, only stalls count: a trickle survives", async () => {
    const path = `/${IDLE_MS}/0/d`;
    assert.equal(await upload(path, 20, 20), 200);
    assert.equal(fired.has(path), false);
  });

  test("time in which the server does not read costs the client nothing", async () => {
    const path = `/${IDLE_MS}/1024/hold`;
    const connection = await RawConnection.open("127.0.0.1", port);
    connection.write(`PUT ${path} HTTP/1.1\r\nhost: t\r\ncontent-length: 10000000\r\n\r\n`);
    // More than the request's buffer holds: the server stops reading, the client is blocked.
    connection.write(Buffer.alloc(4 * 1024 * 1024));
    await sleep(IDLE_MS * 4);
    assert.equal(connection.closed, false);
    assert.equal(fired.has(path), false);
    connection.destroy();
  });

  test("an allowance of 0 turns the guard off", async () => {
    const path = "/0/1024/e";
    const connection = await RawConnection.open("127.0.0.1", port);
    connection.write(`PUT ${path} HTTP/1.1\r\nhost: t\r\ncontent-length: 10\r\n\r\n`);
    await sleep(500);
    assert.equal(connection.closed, false);
    connection.destroy();
  });
});
