import net from "node:net";

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("freePort: no TCP address"));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** Tries to start a server this often before its port trouble counts as a failure. */
const ATTEMPTS = 3;

/** What a daemon that lost the race for its port says (docker-registry and Node alike). */
export const PORT_TAKEN = /address already in use|EADDRINUSE/;

/**
 * Runs `start` on a free port, and on another one when a process took the port between the kernel
 * handing it out and the server binding it: other test files, and other work on the machine,
 * start servers too. Such a start must fail with an error that says so (PORT_TAKEN).
 */
export async function onFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (error) {
      if (attempt >= ATTEMPTS || !PORT_TAKEN.test(String(error))) throw error;
    }
  }
}
