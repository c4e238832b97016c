// The route parser, the reference parser and the manifest validator driven through the real HTTP
// server (in this process, with a hosted repository): whatever a hostile client sends, the answer
// is a success or the spec's error envelope with a status from a known set, never a 500, never a
// hang, and the server still answers /v2/ afterwards.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { pino } from "pino";
import { startWharf, type Wharf } from "../../src/app.js";
import { configSchema } from "../../src/config/schema.js";
import { digestOf } from "../../src/oci/digest.js";
import { OCI_ERROR_CODES } from "../../src/oci/errors.js";
import { MediaType } from "../../src/oci/media-types.js";
import { type RawAnswer, rawExchange } from "../harness/http/raw-socket.js";
import { freePort } from "../harness/system/ports.js";
import { checkAsyncProperty, validName } from "./helpers.js";
import { hostilePath, hostileReference, manifestBody, manifestContentType } from "./hostile-input.js";

const MAX_UPLOAD = 64 * 1024;
/** Statuses wharf may give a request it did not like, or a success. Never 5xx. */
const ALLOWED = new Set([200, 201, 202, 204, 206, 400, 404, 405, 408, 413, 416, 431]);
const METHODS = ["GET", "HEAD", "PUT", "DELETE", "PATCH", "POST", "OPTIONS"] as const;
/** No single answer may take longer than this: the inputs are small. */
const ANSWER_MS = 5000;

/** The request head, byte for byte as given (no URL parser in between). */
function head(method: string, target: string, headers: Record<string, string | number>): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `${method} ${target} HTTP/1.1\r\nhost: fuzz\r\n${lines.join("")}\r\n`;
}

/** An allowed status, and for errors the spec's envelope with codes from the table. */
function assertWellFormed(answer: RawAnswer, method: string, what: string): void {
  assert.ok(ALLOWED.has(answer.status), `${what}: status ${answer.status} ${answer.body.toString()}`);
  if (answer.status < 400 || method === "HEAD") return;
  const parsed = JSON.parse(answer.body.toString()) as {
    errors?: Array<{ code?: unknown; message?: unknown }>;
  };
  assert.ok(Array.isArray(parsed.errors) && parsed.errors.length > 0, `${what}: ${answer.body.toString()}`);
  for (const error of parsed.errors) {
    assert.ok(typeof error.code === "string" && error.code in OCI_ERROR_CODES, `${what}: code ${error.code}`);
    assert.equal(typeof error.message, "string", what);
  }
}

describe("hostile requests through the HTTP server", () => {
  let wharf: Wharf;
  let base: string;
  let dataDir: string;
  const logLines: Array<{ level: number; msg: string }> = [];
  const name = "internal/fuzz";
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux" }));
  const layer = Buffer.from("a layer");
  const fixtures = {
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: digestOf(config),
      size: config.length,
    },
    child: { mediaType: MediaType.ociManifest, digest: digestOf(layer), size: layer.length },
  };

  async function send(
    method: string,
    target: string,
    headers: Record<string, string | number>,
    body?: Buffer,
  ) {
    const request = Buffer.concat([
      Buffer.from(head(method, target, headers), "latin1"),
      body ?? Buffer.alloc(0),
    ]);
    const answer = await rawExchange(base, request, { timeoutMs: ANSWER_MS, head: method === "HEAD" });
    answer.connection.destroy();
    return answer;
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "wharf-unit-fuzz-"));
    const port = await freePort();
    const settings = configSchema.parse({
      listen: `127.0.0.1:${port}`,
      data_dir: dataDir,
      repositories: { internal: { type: "hosted" } },
      uploads: { max_size: MAX_UPLOAD },
      // The parsers are under test here, not the login: every request reaches them.
      auth: { enabled: false },
    });
    const logger = pino({ level: "info" }, { write: (line: string) => logLines.push(JSON.parse(line)) });
    wharf = await startWharf(settings, logger);
    base = `http://127.0.0.1:${port}`;
    for (const blob of [config, layer]) {
      const pushed = await send(
        "POST",
        `/v2/${name}/blobs/uploads/?digest=${digestOf(blob)}`,
        { "content-length": blob.length },
        blob,
      );
      assert.equal(pushed.status, 201, pushed.body.toString());
    }
  });

  after(async () => {
    await wharf?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** After each property: still serving, and nothing was logged as an unexpected error. */
  async function assertHealthy(): Promise<void> {
    const answer = await send("GET", "/v2/", {});
    assert.equal(answer.status, 200);
    assert.deepEqual(
      logLines.filter((line) => line.level >= 50),
      [],
      "no request made wharf log an error",
    );
  }

  test("any method on any path", async () => {
    await checkAsyncProperty(
      fc.asyncProperty(fc.constantFrom(...METHODS), hostilePath, async (method, path) => {
        const answer = await send(method, path, { "content-length": 0 });
        assertWellFormed(answer, method, `${method} ${JSON.stringify(path)}`);
      }),
      400,
    );
    await assertHealthy();
  });

  test("any reference on the manifest endpoints, under valid and hostile names", async () => {
    const target = fc.tuple(
      fc.oneof(
        validName,
        hostilePath.map((p) => p.slice(4)),
      ),
      hostileReference,
    );
    await checkAsyncProperty(
      fc.asyncProperty(
        fc.constantFrom("GET", "HEAD", "PUT", "DELETE"),
        target,
        async (method, [n, reference]) => {
          const path = `/v2/${n}/manifests/${reference}`;
          const answer = await send(method, path, { "content-length": 0 });
          assertWellFormed(answer, method, `${method} ${JSON.stringify(path)}`);
        },
      ),
      300,
    );
    await assertHealthy();
  });

  test("any body and Content-Type on a manifest PUT: 201, 400 or 413, with the spec's codes", async () => {
    const codes = new Set(["MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN"]);
    const layerDescriptor = {
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: digestOf(layer),
      size: layer.length,
    };
    // So that some PUTs succeed too: the fixtures' blobs exist under this name.
    const validManifest = fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }).map((annotations) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          config: fixtures.config,
          layers: [layerDescriptor],
          annotations,
        }),
      ),
    );
    let created = 0;
    await checkAsyncProperty(
      fc.asyncProperty(
        fc.oneof(manifestBody(fixtures), validManifest),
        manifestContentType,
        async (body, contentType) => {
          const headers = {
            "content-length": body.length,
            ...(contentType === undefined ? {} : { "content-type": contentType }),
          };
          const answer = await send("PUT", `/v2/${name}/manifests/fuzzed`, headers, body);
          assertWellFormed(answer, "PUT", `PUT ${contentType}: ${body.subarray(0, 80).toString()}`);
          assert.ok([201, 400, 413].includes(answer.status), `status ${answer.status}`);
          if (answer.status === 201) {
            created++;
            assert.equal(answer.headers["docker-content-digest"], digestOf(body));
            return;
          }
          const { errors } = JSON.parse(answer.body.toString()) as { errors: Array<{ code: string }> };
          for (const error of errors) assert.ok(codes.has(error.code), error.code);
        },
      ),
      300,
    );
    assert.ok(created > 0, "some generated manifests were valid and stored");
    await assertHealthy();
  });

  test("any Content-Range, length and body on an upload chunk: 202, 400, 413 or 416", async () => {
    const opened = await send("POST", `/v2/${name}/blobs/uploads/`, { "content-length": 0 });
    assert.equal(opened.status, 202);
    const location = opened.headers.location ?? "";
    const range = fc.oneof(
      fc.constant(undefined),
      fc.tuple(fc.nat({ max: 2 * MAX_UPLOAD }), fc.nat({ max: 2 * MAX_UPLOAD })).map(([a, b]) => `${a}-${b}`),
      fc.constantFrom("0-", "-1", "bytes 0-0/*", "0-99999999999999999999", "a-b", "", "5-1", "0-0,1-1"),
    );
    const chunk = fc.uint8Array({ maxLength: MAX_UPLOAD / 4 }).map((bytes) => Buffer.from(bytes));
    await checkAsyncProperty(
      fc.asyncProperty(range, chunk, async (contentRange, body) => {
        const headers = {
          "content-type": "application/octet-stream",
          "content-length": body.length,
          ...(contentRange === undefined ? {} : { "content-range": contentRange }),
        };
        const answer = await send("PATCH", location, headers, body);
        assertWellFormed(answer, "PATCH", `PATCH ${contentRange} (${body.length} bytes)`);
        assert.ok([202, 400, 413, 416].includes(answer.status), `status ${answer.status}`);
      }),
      150,
    );
    await assertHealthy();
  });
});
