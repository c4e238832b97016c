// UpstreamClient keeps its connection to the upstream across HEADs: undici closes one after a HEAD
// unless asked not to, and then every tag revalidation, and the request after it, pays a new
// connection (a TLS handshake, for Docker Hub). The upstream is an HTTP server in this process.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { Agent } from "undici";
import { LocalTokenCache } from "../../src/coordination/token-cache.js";
import { LocalUpstreamState } from "../../src/coordination/upstream-state.js";
import { UpstreamClient } from "../../src/upstream/client.js";

const DIGEST = `sha256:${"b".repeat(64)}`;
const BLOB = Buffer.from("0123456789");

let server: Server;
let url: string;
let connections = 0;
const connectionHeaders: (string | undefined)[] = [];
const dispatcher = new Agent();

before(async () => {
  server = createServer((req, res) => {
    connectionHeaders.push(req.headers.connection);
    if (req.url?.includes("/manifests/")) {
      res.writeHead(200, {
        "docker-content-digest": DIGEST,
        "content-type": "application/vnd.oci.image.manifest.v1+json",
        "content-length": "2",
      });
      res.end();
    } else if (req.headers.range) {
      res.writeHead(206, { "content-range": `bytes 2-4/${BLOB.length}`, "content-length": "3" });
      res.end(BLOB.subarray(2, 5));
    } else {
      res.writeHead(200, { "content-length": String(BLOB.length) });
      res.end(req.method === "HEAD" ? undefined : BLOB);
    }
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await dispatcher.close();
  await new Promise((resolve) => server.close(resolve));
});

test("HEADs and the requests after them reuse the connections to the upstream", async () => {
  const client = new UpstreamClient({
    name: "hub",
    url,
    timeouts: { headersMs: 5000, bodyMs: 5000 },
    dispatcher,
    userAgent: "wharf-test",
    state: new LocalUpstreamState(),
    tokens: new LocalTokenCache(),
  });
  const accept = ["application/vnd.oci.image.manifest.v1+json"];
  for (let revalidation = 0; revalidation < 10; revalidation++) {
    const head = await client.headManifest("library/a", "latest", accept);
    assert.equal(head.digest, DIGEST);
  }
  assert.deepEqual(await client.headBlob("library/a", DIGEST), { size: BLOB.length });
  const part = await client.getBlobRange("library/a", DIGEST, { kind: "from", start: 2, end: 4 });
  assert.ok(part);
  assert.deepEqual(Buffer.concat(await part.body.toArray()), BLOB.subarray(2, 5));

  assert.equal(connectionHeaders.length, 12);
  assert.ok(!connectionHeaders.includes("close"), `connection headers sent: ${connectionHeaders.join(", ")}`);
  // undici may open a second one when the next request is sent before it counts a HEAD's as free.
  assert.ok(connections <= 2, `${connections} connections for 12 requests`);
});
