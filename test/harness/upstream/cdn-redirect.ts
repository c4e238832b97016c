import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Credentials } from "../types.js";

export interface CdnRequest {
  path: string;
  /** The Authorization header the CDN received, if any: a registry client must send none. */
  authorization: string | undefined;
}

export interface CdnRedirect {
  /** The registry front: point the client under test here. */
  readonly url: string;
  /** A different origin, standing in for production.cloudflare.docker.com. */
  readonly cdnUrl: string;
  cdnRequests(): CdnRequest[];
  close(): Promise<void>;
}

const BLOB = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/;

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  // like the daemons (system/proc.ts): a server nobody closed must not keep the process alive
  server.unref();
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * Docker Hub's blob path: an authorized blob GET on the registry answers 307 to a CDN on another
 * host, which serves the bytes without any credentials. The front passes everything else to
 * `target` unchanged; the CDN fetches the blob from `target` with `creds` (Basic) and logs what
 * it was sent, so a test can see whether the client leaked its registry Authorization.
 */
export async function startCdnRedirect(target: string, creds: Credentials): Promise<CdnRedirect> {
  const basic = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
  const seen: CdnRequest[] = [];
  const forward = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
    headers = req.headers,
  ) => {
    const out = http.request(`${target}${path}`, { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on("error", () => res.destroy());
    req.pipe(out);
  };

  const cdn = http.createServer((req, res) => {
    seen.push({ path: req.url ?? "", authorization: req.headers.authorization });
    const m = /^\/cdn\/(.+)\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? "");
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    forward(req, res, `/v2/${m[1]}/blobs/${m[2]}`, { authorization: basic });
  });
  const cdnUrl = await listen(cdn);

  const front = http.createServer((req, res) => {
    const blob = req.method === "GET" ? BLOB.exec(req.url ?? "") : null;
    if (blob && req.headers.authorization) {
      res.writeHead(307, { location: `${cdnUrl}/cdn/${blob[1]}/${blob[2]}`, "content-length": 0 }).end();
      return;
    }
    forward(req, res, req.url ?? "/");
  });
  const url = await listen(front);

  return {
    url,
    cdnUrl,
    cdnRequests: () => [...seen],
    async close() {
      for (const server of [front, cdn]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}
