import { execFile } from "node:child_process";
import { round1, round3 } from "./stats.js";

/** What one wrk run measured. */
export interface WrkRun {
  url: string;
  threads: number;
  connections: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Responses that were not 2xx or 3xx, and socket errors: a run with any is not a result. */
  errors: number;
}

/** wrk's latencies ("1.23ms", "850.00us", "1.02s") in milliseconds. */
function milliseconds(value: string | undefined): number | null {
  const match = /^([\d.]+)(us|ms|s)$/.exec(value ?? "");
  if (!match) return null;
  const n = Number(match[1]);
  return round3(match[2] === "us" ? n / 1000 : match[2] === "s" ? n * 1000 : n);
}

/**
 * wrk (Debian's package) against `url` with these headers: its own process and threads, so the
 * client is not the bottleneck the way an in-process one would be. `--latency` gives p50 and p99.
 */
export function wrk(
  url: string,
  headers: Record<string, string>,
  options: { threads: number; connections: number; seconds: number },
): Promise<WrkRun> {
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    "--latency",
    ...Object.entries(headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]),
    url,
  ];
  return new Promise((resolve, reject) => {
    execFile("wrk", args, { timeout: (options.seconds + 30) * 1000 }, (error, stdout) => {
      if (error) return reject(new Error(`wrk failed: ${error.message}`));
      const text = String(stdout);
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(text)?.[1];
      const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
      const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
      const socketErrors = socket ? socket.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
      resolve({
        url,
        threads: options.threads,
        connections: options.connections,
        seconds: options.seconds,
        requestsPerSecond: round1(Number(rps ?? 0)),
        p50Ms: milliseconds(/^\s+50%\s+(\S+)/m.exec(text)?.[1]),
        p99Ms: milliseconds(/^\s+99%\s+(\S+)/m.exec(text)?.[1]),
        errors: non2xx + socketErrors,
      });
    });
  });
}
