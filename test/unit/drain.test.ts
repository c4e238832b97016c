import assert from "node:assert/strict";
import http, { type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { describe, type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Drain } from "../../src/http/drain.js";

interface Held {
  release(): void;
}

/** A server whose requests Drain tracks: `/quick` answers at once, `/held` waits, `/stream` sends its head and waits. */
async function drainedServer(
  t: TestContext,
): Promise<{ server: Server; drain: Drain; port: number; held: Held[] }> {
  const drain = new Drain();
  const held: Held[] = [];
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const settled = drain.track(res);
    const work = new Promise<void>((resolve) => {
      if (req.url === "/quick") {
        res.end("quick");
        resolve();
        return;
      }
      if (req.url === "/stream") res.writeHead(200, { "content-length": 4 }).write("st");
      held.push({
        release: () => {
          if (!res.destroyed) res.end(req.url === "/stream" ? "ok" : "held");
          resolve();
        },
      });
    });
    void work.finally(settled);
  });
  drain.add(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  // A closed server and an agent's idle sockets hold the event loop no longer; a real process has more.
  const alive = setInterval(() => {}, 1000);
  t.after(() => {
    clearInterval(alive);
    drain.end();
    server.close();
    server.closeAllConnections();
  });
  return { server, drain, port: (server.address() as AddressInfo).port, held };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  socket: Socket;
}

function get(port: number, path: string, agent: http.Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
          socket: req.socket as Socket,
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

/** Resolves when the server has closed the connection, well before Node's own keep-alive timeout would. */
async function closed(socket: Socket): Promise<void> {
  if (socket.destroyed) return;
  const gone = new Promise<"closed">((resolve) => socket.once("close", () => resolve("closed")));
  assert.equal(await Promise.race([gone, sleep(1000, "still open")]), "closed");
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(5);
  assert.ok(condition());
}

describe("Drain", () => {
  test("stops accepting new connections at once", async (t) => {
    const { drain, port } = await drainedServer(t);
    drain.begin();
    const agent = new http.Agent();
    await assert.rejects(get(port, "/quick", agent), { code: "ECONNREFUSED" });
  });

  test("an idle keep-alive connection is closed when the drain begins", async (t) => {
    const { drain, port } = await drainedServer(t);
    const agent = new http.Agent({ keepAlive: true });
    const answer = await get(port, "/quick", agent);
    assert.equal(answer.headers.connection, "keep-alive");
    drain.begin();
    await closed(answer.socket);
  });

  test("a request not yet answered is served with Connection: close, and its connection then closes", async (t) => {
    const { drain, port, held } = await drainedServer(t);
    const agent = new http.Agent({ keepAlive: true });
    const pending = get(port, "/held", agent);
    await until(() => held.length === 1);
    drain.begin();
    assert.equal(drain.active, 1);
    held[0]?.release();
    const answer = await pending;
    assert.equal(answer.body, "held");
    assert.equal(answer.headers.connection, "close");
    await closed(answer.socket);
    await until(() => drain.active === 0);
  });

  test("a response already streaming finishes, then its keep-alive connection is closed", async (t) => {
    const { drain, port, held } = await drainedServer(t);
    const agent = new http.Agent({ keepAlive: true });
    const pending = get(port, "/stream", agent);
    await until(() => held.length === 1);
    drain.begin();
    held[0]?.release();
    const answer = await pending;
    assert.equal(answer.body, "stok");
    assert.equal(answer.headers.connection, "keep-alive", "the head went out before the drain");
    await closed(answer.socket);
  });

  test("a request counts until its handler settles, even after its client left", async (t) => {
    const { drain, port, held } = await drainedServer(t);
    const agent = new http.Agent();
    const req = http.get({ host: "127.0.0.1", port, path: "/held", agent });
    req.on("error", () => {});
    await until(() => held.length === 1);
    req.destroy();
    await sleep(50);
    assert.equal(drain.active, 1, "the handler still runs");
    held[0]?.release();
    await until(() => drain.active === 0);
  });

  test("cutOff closes connections that are still busy", async (t) => {
    const { drain, port, held } = await drainedServer(t);
    const agent = new http.Agent({ keepAlive: true });
    const pending = get(port, "/stream", agent);
    await until(() => held.length === 1);
    drain.begin();
    drain.cutOff();
    await assert.rejects(pending, /aborted|ECONNRESET|socket hang up/);
    held[0]?.release();
    await until(() => drain.active === 0);
  });
});
