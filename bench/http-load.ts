import { execFile } from "node:child_process";
import crypto from "node:crypto";
import { Agent, request } from "undici";
import type { LoadRun } from "./results.js";
import { MB, round1, round3 } from "./stats.js";

export type LoadClient = "undici" | "curl";

// curl is the default: against the same nginx, undici in this process peaked at 300-600 MB/s where
// curl reached 650-1400 MB/s, and raw node clients collapsed to ~30 MB/s at 8 parallel requests.
export const CLIENT_DESCRIPTIONS: Record<LoadClient, string> = {
  curl: "one curl process per GET (-o /dev/null), as the lab measured",
  undici:
    "undici in the bench process (one kept-alive connection per concurrent GET, body counted and dropped)",
};

interface Response {
  status: number;
  bytes: number;
}

async function getUndici(url: string, agent: Agent): Promise<Response> {
  const res = await request(url, { dispatcher: agent });
  let bytes = 0;
  for await (const chunk of res.body) bytes += (chunk as Buffer).length;
  return { status: res.statusCode, bytes };
}

function getCurl(url: string): Promise<Response> {
  return new Promise((resolve) => {
    execFile(
      "curl",
      ["-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url],
      { timeout: 120_000 },
      (error, stdout) => {
        const [status, bytes] = String(stdout).trim().split(" ").map(Number);
        resolve(error ? { status: 0, bytes: 0 } : { status: status ?? 0, bytes: bytes ?? 0 });
      },
    );
  });
}

/**
 * `requests` GETs of the same URL, `parallel` at a time, timed as a whole. A fresh connection
 * pool per run, so no server is served by connections another run warmed up.
 */
export async function load(
  client: LoadClient,
  url: string,
  requests: number,
  parallel: number,
  size: number,
): Promise<LoadRun> {
  const agent = client === "undici" ? new Agent({ connections: parallel, pipelining: 1 }) : undefined;
  let next = 0;
  const responses: Response[] = [];
  const worker = async () => {
    while (next < requests) {
      next++;
      responses.push(agent ? await getUndici(url, agent) : await getCurl(url));
    }
  };
  try {
    const started = performance.now();
    await Promise.all(Array.from({ length: parallel }, worker));
    const seconds = (performance.now() - started) / 1000;
    const bytes = responses.reduce((n, r) => n + r.bytes, 0);
    return {
      requests,
      parallel,
      seconds: round3(seconds),
      bytes,
      mbPerSecond: round1(bytes / MB / seconds),
      allOk: responses.every((r) => r.status === 200 && r.bytes === size),
    };
  } finally {
    await agent?.close();
  }
}

/** One GET, hashed: proves a server returns the blob's exact bytes (and warms its cache). */
export async function fetchDigest(url: string): Promise<string> {
  const agent = new Agent({ connections: 1 });
  try {
    const res = await request(url, { dispatcher: agent });
    const hash = crypto.createHash("sha256");
    for await (const chunk of res.body) hash.update(chunk as Buffer);
    return res.statusCode === 200 ? `sha256:${hash.digest("hex")}` : `HTTP ${res.statusCode}`;
  } finally {
    await agent.close();
  }
}
