import net, { type AddressInfo, type Socket } from "node:net";

export interface LatencyRelay {
  readonly port: number;
  close(): Promise<void>;
}

/** Bytes held in one direction before the sending side is paused: a link's bandwidth stays the kernel's. */
const HELD_BYTES = 16 * 1024 * 1024;

/**
 * Forwards what `from` sends to `to`, each chunk `delayMs` later (timers of one delay fire in
 * order, so the bytes stay in order); `from` waits while too much is held or `to` is full.
 */
function delayed(from: Socket, to: Socket, delayMs: number): void {
  let held = 0;
  const pauseIfFull = () => {
    if (held > HELD_BYTES || to.writableNeedDrain) from.pause();
  };
  to.on("drain", () => {
    if (held <= HELD_BYTES) from.resume();
  });
  from.on("data", (chunk: Buffer) => {
    held += chunk.byteLength;
    pauseIfFull();
    setTimeout(() => {
      held -= chunk.byteLength;
      if (!to.destroyed) to.write(chunk);
      if (held <= HELD_BYTES && !to.writableNeedDrain) from.resume();
    }, delayMs);
  });
  // An end is passed on after the bytes before it, and lets `to` flush them; only a connection
  // that broke is broken on the other side too.
  from.on("end", () => setTimeout(() => to.end(), delayMs));
  from.on("close", () => {
    if (!from.readableEnded) setTimeout(() => to.destroy(), delayMs);
  });
  from.on("error", () => {});
}

/**
 * A TCP relay on 127.0.0.1 to `targetPort` that delays every byte by half of `rttMs` each way, so
 * a client talks to an upstream as far away as Docker Hub is from a site (tens of milliseconds),
 * while every process still runs on this machine. Each connection costs the round trip once more
 * to open, as a real one does.
 */
export async function startLatencyRelay(targetPort: number, rttMs: number): Promise<LatencyRelay> {
  const oneWay = rttMs / 2;
  const sockets = new Set<Socket>();
  const server = net.createServer((client) => {
    client.pause();
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on("close", () => sockets.delete(socket));
    }
    upstream.on("connect", () =>
      setTimeout(() => {
        delayed(client, upstream, oneWay);
        delayed(upstream, client, oneWay);
        client.resume();
      }, rttMs),
    );
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
