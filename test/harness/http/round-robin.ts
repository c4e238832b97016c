import http from "node:http";
import type { AddressInfo } from "node:net";

// A load balancer in front of several wharf nodes, as a site runs one: each request goes to the
// next node in turn, whatever the previous request of the same client reached. Headers (Host
// included) and bodies pass through unchanged, both ways.

export interface RoundRobin {
  readonly url: string;
  /** How many requests each target got, in order. */
  counts(): number[];
  close(): Promise<void>;
}

export async function startRoundRobin(targets: readonly string[]): Promise<RoundRobin> {
  const counts = targets.map(() => 0);
  let next = 0;
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const index = next++ % targets.length;
    counts[index] = (counts[index] ?? 0) + 1;
    const target = new URL(targets[index] ?? "");
    const forwarded = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(res);
        answer.on("error", () => res.destroy());
      },
    );
    forwarded.on("error", () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(forwarded);
    res.on("close", () => forwarded.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts: () => [...counts],
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}
