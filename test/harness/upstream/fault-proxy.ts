import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { sendJson } from "./json-response.js";

/**
 * ok            plain streaming proxy
 * ratelimit     authorized manifest GETs are counted against the limit (Docker Hub's anonymous/free
 *               pull limit); manifest GET and HEAD answers carry ratelimit-* headers; past the
 *               limit manifest GETs get 429. HEAD never counts and is never refused.
 * 429           like ratelimit with the limit already reached
 * down          503 to everything
 * drop          every connection destroyed without an answer
 * cut-blob      blob GETs: headers and about half the body, then the socket is destroyed
 * corrupt-blob  blob GETs: some bytes of the body flipped, length unchanged
 * slow-blob     blob GET bodies throttled to bytesPerSec
 */
export type FaultMode =
  | "ok"
  | "ratelimit"
  | "429"
  | "down"
  | "drop"
  | "cut-blob"
  | "corrupt-blob"
  | "slow-blob";

export interface FaultOptions {
  /** slow-blob rate; default 256 KiB/s. */
  bytesPerSec?: number;
  /** Blob faults only hit these digests; default every blob. */
  digests?: string[];
}

export interface FaultProxyOptions extends FaultOptions {
  /** Base URL of the registry behind the proxy, e.g. upstream.url. */
  target: string;
  mode?: FaultMode;
  /** Manifest GETs allowed in ratelimit mode; default 100. */
  limit?: number;
}

export interface ProxiedRequest {
  method: string;
  path: string;
  authorized: boolean;
  /** The status the client saw; 0 when the connection was dropped. */
  status: number;
  /** What the proxy did: passed (possibly faulted: cut/corrupted/slowed), refused, dropped. */
  outcome: "passed" | "cut" | "corrupted" | "slowed" | "refused" | "dropped";
}

export interface FaultStats {
  mode: FaultMode;
  limit: number;
  /** Manifest GETs and HEADs forwarded to the target. */
  manifestGet: number;
  manifestHead: number;
  /** Authorized manifest GETs counted against the limit (ratelimit mode). */
  rateCounted: number;
  /** Manifest GETs answered 429 by the proxy. */
  rateLimited: number;
  /** Blob GETs and HEADs forwarded, per digest. */
  blobGet: Record<string, number>;
  blobHead: Record<string, number>;
  /** 401 answers to requests that carried no Authorization (the start of every token dance). */
  unauthorized: number;
  down: number;
  dropped: number;
  cut: number;
  corrupted: number;
  other: number;
}

export interface FaultProxy {
  readonly url: string;
  /** 127.0.0.1:PORT */
  readonly host: string;
  readonly port: number;
  setMode(mode: FaultMode, opts?: FaultOptions): void;
  mode(): FaultMode;
  setLimit(limit: number): void;
  stats(): FaultStats;
  requests(): ProxiedRequest[];
  /** Zeroes counters and the request list; mode and limit stay. */
  resetStats(): void;
  close(): Promise<void>;
}

const MANIFEST = /^\/v2\/(.+)\/manifests\/([^/]+)$/;
const BLOB = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/;
const WINDOW = "w=21600";
const TOO_MANY = {
  errors: [
    {
      code: "TOOMANYREQUESTS",
      message:
        "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: " +
        "https://www.docker.com/increase-rate-limit",
    },
  ],
};

function zeroStats(mode: FaultMode, limit: number): FaultStats {
  return {
    mode,
    limit,
    manifestGet: 0,
    manifestHead: 0,
    rateCounted: 0,
    rateLimited: 0,
    blobGet: {},
    blobHead: {},
    unauthorized: 0,
    down: 0,
    dropped: 0,
    cut: 0,
    corrupted: 0,
    other: 0,
  };
}

type BodyFault = "cut" | "corrupted" | "slowed";

/** Copies a blob body to the client, damaging or delaying it as `fault` says. */
async function faultyBody(
  src: http.IncomingMessage,
  res: http.ServerResponse,
  fault: BodyFault,
  bytesPerSec: number,
): Promise<void> {
  const length = Number(src.headers["content-length"] ?? 0);
  const half = Math.max(1, Math.floor(length / 2));
  const start = Date.now();
  let offset = 0;
  const write = async (chunk: Buffer) => {
    if (res.write(chunk) || res.destroyed) return;
    const gone = new AbortController();
    const onClose = () => gone.abort();
    res.once("close", onClose);
    await once(res, "drain", { signal: gone.signal }).catch(() => undefined);
    res.off("close", onClose);
  };
  for await (const raw of src) {
    if (res.destroyed) break;
    const chunk = Buffer.from(raw as Buffer);
    if (fault === "cut") {
      if (offset + chunk.length >= half) {
        // let the first half reach the socket, then hang up mid-body
        res.write(chunk.subarray(0, half - offset), () => res.destroy());
        src.destroy();
        return;
      }
    } else if (fault === "corrupted") {
      // from the middle on, one byte every 64 KiB: the length stays, the digest breaks
      for (let i = 0; i < chunk.length; i++) {
        const at = offset + i;
        if (at >= half - 1 && (at - (half - 1)) % 65536 === 0) chunk[i] = (chunk[i] ?? 0) ^ 0xff;
      }
    } else {
      const slice = Math.max(1, Math.floor(bytesPerSec / 20));
      for (let i = 0; i < chunk.length; i += slice) {
        const piece = chunk.subarray(i, i + slice);
        const due = start + ((offset + i + piece.length) * 1000) / bytesPerSec;
        if (due > Date.now()) await sleep(due - Date.now());
        if (res.destroyed) break;
        await write(piece);
      }
      offset += chunk.length;
      continue;
    }
    offset += chunk.length;
    await write(chunk);
  }
  res.end();
}

/** A streaming reverse proxy standing in for a misbehaving Docker Hub (registry-1.docker.io). */
export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(opts.target);
  let mode: FaultMode = opts.mode ?? "ok";
  let limit = opts.limit ?? 100;
  let faultOpts: FaultOptions = { bytesPerSec: opts.bytesPerSec, digests: opts.digests };
  let stats = zeroStats(mode, limit);
  let log: ProxiedRequest[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? "GET";
    const path = new URL(req.url ?? "/", "http://proxy").pathname;
    const authorized = req.headers.authorization !== undefined;
    const record = (status: number, outcome: ProxiedRequest["outcome"]) =>
      log.push({ method, path, authorized, status, outcome });

    if (mode === "drop") {
      stats.dropped++;
      record(0, "dropped");
      req.socket.destroy();
      return;
    }
    if (mode === "down") {
      stats.down++;
      record(503, "refused");
      sendJson(res, 503, {
        errors: [{ code: "UNAVAILABLE", message: "service unavailable (wharf test outage)" }],
      });
      return;
    }

    const manifest = MANIFEST.test(path);
    const blob = BLOB.exec(path)?.[2];
    const limiting = mode === "ratelimit" || mode === "429";
    let extraHeaders: http.OutgoingHttpHeaders = {};
    if (manifest && limiting && method === "GET" && authorized) {
      if (mode === "429" || stats.rateCounted >= limit) {
        stats.rateLimited++;
        record(429, "refused");
        sendJson(res, 429, TOO_MANY, {
          "ratelimit-limit": `${limit};${WINDOW}`,
          "ratelimit-remaining": `0;${WINDOW}`,
          "retry-after": "60",
        });
        return;
      }
      stats.rateCounted++;
    }
    if (manifest && limiting && (method === "GET" || method === "HEAD")) {
      const remaining = mode === "429" ? 0 : Math.max(0, limit - stats.rateCounted);
      extraHeaders = {
        "ratelimit-limit": `${limit};${WINDOW}`,
        "ratelimit-remaining": `${remaining};${WINDOW}`,
      };
    }
    if (manifest && method === "GET") stats.manifestGet++;
    else if (manifest && method === "HEAD") stats.manifestHead++;
    else if (blob && method === "GET") stats.blobGet[blob] = (stats.blobGet[blob] ?? 0) + 1;
    else if (blob && method === "HEAD") stats.blobHead[blob] = (stats.blobHead[blob] ?? 0) + 1;
    else stats.other++;

    const fault: BodyFault | undefined =
      blob && method === "GET" && (!faultOpts.digests || faultOpts.digests.includes(blob))
        ? ({ "cut-blob": "cut", "corrupt-blob": "corrupted", "slow-blob": "slowed" } as const)[
            mode as "cut-blob" | "corrupt-blob" | "slow-blob"
          ]
        : undefined;

    const upstream = http.request(
      {
        protocol: target.protocol,
        host: target.hostname,
        port: target.port,
        method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (ures) => {
        const status = ures.statusCode ?? 502;
        if (status === 401 && !authorized) stats.unauthorized++;
        res.writeHead(status, { ...ures.headers, ...extraHeaders });
        if (fault && status === 200) {
          if (fault === "cut") stats.cut++;
          if (fault === "corrupted") stats.corrupted++;
          record(status, fault);
          faultyBody(ures, res, fault, faultOpts.bytesPerSec ?? 256 * 1024).catch(() => res.destroy());
          return;
        }
        record(status, "passed");
        ures.pipe(res);
      },
    );
    upstream.on("error", (e) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      record(502, "refused");
      sendJson(res, 502, { errors: [{ code: "UNAVAILABLE", message: `fault proxy: ${e.message}` }] });
    });
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  const server = http.createServer(handle);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  // like the daemons (system/proc.ts): a server nobody closed must not keep the process alive
  server.unref();
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    port,
    setMode(m, o = {}) {
      mode = m;
      stats.mode = m;
      faultOpts = { ...faultOpts, ...o };
    },
    mode: () => mode,
    setLimit(n) {
      limit = n;
      stats.limit = n;
    },
    stats: () => ({ ...stats, blobGet: { ...stats.blobGet }, blobHead: { ...stats.blobHead } }),
    requests: () => [...log],
    resetStats() {
      stats = zeroStats(mode, limit);
      log = [];
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
