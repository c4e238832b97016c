// Issue 4, point 5: hostile and broken input, sent over real sockets to a wharf with a hosted
// repository while skopeo pulls an image from it and ten clients GET its biggest layer in a loop.
// Each hostile request must get the spec's error and status (or a closed connection where that is
// the answer), and every normal pull must finish byte-exact. Timeouts are configured small
// (`limits`), so the slow-client cases take seconds, not minutes. No case asserts how fast an
// answer came: a connection closed at once is shown by a request written after the answer that
// gets none, and a cut-off by the client still sending when the connection ends.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import YAML from "yaml";
import { BackgroundPulls } from "../harness/clients/background-pulls.js";
import { rangeParts } from "../harness/http/multipart.js";
import { dribble, flood, type RawAnswer, RawConnection, rawExchange } from "../harness/http/raw-socket.js";
import { errorCodes, type RawResponse, rawRequest, sha256 } from "../harness/http/requests.js";
import {
  closeUpload,
  locationPath,
  patchChunk,
  startUpload,
  uploadedBytes,
} from "../harness/http/uploads.js";
import { pushImage } from "../harness/images/push.js";
import { getImage, layoutBytes, MediaTypes } from "../harness/images/test-images.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const MAX_UPLOAD = 3 * MiB;
const TIMEOUT_MS = 1000;
/**
 * How long a case waits for wharf to cut a client off: ample for a slow machine, and short of the
 * defaults (heads 30 s, bodies 60 s, keep-alive 65 s), so only the configured timeouts end it in time.
 */
const CUT_OFF_MS = 15_000;
const NAME = "internal/alongside";
const DIGEST_HEX = "ab".repeat(32);
/** Idle connections held at once, by this process and by wharf. */
const IDLE_SOCKETS = 3000;

/** Fails, saying how to fix it, when `pid` may not open the idle sockets and some room besides. */
function assertRoomForIdleSockets(pid: number | "self"): void {
  const limits = fs.readFileSync(`/proc/${pid}/limits`, "utf8");
  const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1] ?? 0);
  assert.ok(
    soft >= IDLE_SOCKETS + 1000,
    `process ${pid} may open ${soft} files, too few for ${IDLE_SOCKETS} idle connections: raise the ` +
      "hard limit (node raises its soft limit to it), e.g. `ulimit -n 16384` as root, as scripts/test.sh does",
  );
}

/** Sockets the process holds open, from /proc: what the server itself still keeps. */
function openSockets(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:");
    } catch {
      return false;
    }
  }).length;
}

/** A request head written byte for byte: nothing between the test and the socket normalises it. */
function head(method: string, target: string, headers: Record<string, string | number> = {}): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `${method} ${target} HTTP/1.1\r\nhost: wharf\r\n${lines.join("")}\r\n`;
}

function assertError(answer: RawAnswer | RawResponse, status: number, code: string, what: string): void {
  assert.equal(answer.status, status, `${what}: ${answer.body.toString()}`);
  assert.deepEqual(errorCodes(answer.body), [code], `${what}: ${answer.body.toString()}`);
}

/**
 * wharf closed the connection after its answer instead of keeping it: a request written now (after
 * `before`, which ends a chunked body a draining server would still be reading) gets no answer.
 * Waiting for the close would not tell: the configured keep-alive timeout ends a kept connection
 * within a second anyway.
 */
async function assertClosed(connection: RawConnection, what: string, before = ""): Promise<void> {
  connection.write(`${before}${head("GET", "/v2/")}`);
  const next = await connection.answer({ timeoutMs: CUT_OFF_MS });
  assert.equal(next.status, 0, `${what}: the connection was kept, and answered another request`);
}

describe("hostile input while normal pulls run alongside", () => {
  let wharf: Wharf;
  let pulls: BackgroundPulls;
  const image = getImage("big", { bigLayerBytes: 2 * MiB, bigLayerCount: 2 });
  const layer = [...image.blobs].sort((a, b) => b.size - a.size)[0] as { digest: string; size: number };

  const send = async (request: string | Buffer, opts: { head?: boolean } = {}) =>
    rawExchange(wharf.url, request, { timeoutMs: 10_000, ...opts });
  const connect = () => RawConnection.open("127.0.0.1", wharf.port);

  before(async () => {
    const config = {
      repositories: { internal: { type: "hosted" } },
      uploads: { max_size: "3MiB" },
      limits: {
        headers_timeout: `${TIMEOUT_MS}ms`,
        keep_alive_timeout: `${TIMEOUT_MS}ms`,
        body_idle_timeout: `${TIMEOUT_MS}ms`,
        body_min_rate: "2KiB",
        max_connections: 5000,
      },
    };
    wharf = await startWharf({ configYaml: YAML.stringify(config) });
    await pushImage(image, { host: wharf.host }, `${NAME}:1`);
    pulls = new BackgroundPulls({ url: wharf.url, ref: `${wharf.host}/${NAME}:1`, name: NAME, image });
    pulls.start();
  });
  after(async () => {
    await pulls?.stop();
    await wharf?.close();
  });

  test("traversal, encoded slashes, absolute and doubled paths, bad names, tags and digests", async () => {
    const upper = `sha256:${DIGEST_HEX.toUpperCase()}`;
    const cases: ReadonlyArray<readonly [string, string, number, string]> = [
      ["GET", `/v2/internal/../../etc/passwd/manifests/1`, 400, "NAME_INVALID"],
      ["GET", `/v2/${NAME}/../x/manifests/1`, 400, "NAME_INVALID"],
      ["GET", `/v2/internal/%2e%2e/alongside/manifests/1`, 400, "NAME_INVALID"],
      ["GET", `/v2/internal%2falongside/manifests/1`, 400, "NAME_INVALID"],
      ["GET", `/v2/internal%2Falongside/tags/list`, 400, "NAME_INVALID"],
      ["GET", `/v2/${NAME}/manifests/%2e%2e`, 400, "NAME_INVALID"],
      ["GET", `/v2/${NAME}/blobs/..%2f..%2fetc%2fpasswd`, 400, "NAME_INVALID"],
      ["GET", `/v2/${NAME}/blobs/../../../../etc/passwd`, 400, "NAME_INVALID"],
      ["GET", `/v2//etc/passwd/manifests/1`, 400, "NAME_INVALID"],
      ["GET", `/v2/internal//alongside/manifests/1`, 400, "NAME_INVALID"],
      ["GET", `/v2/internal\\alongside/manifests/1`, 400, "NAME_INVALID"],
      ["GET", `/v2/internal\\..\\..\\etc/tags/list`, 400, "NAME_INVALID"],
      // Not under /v2/ at all: nothing there.
      ["GET", `//v2/${NAME}/manifests/1`, 404, "NAME_UNKNOWN"],
      ["GET", `/../v2/${NAME}/manifests/1`, 404, "NAME_UNKNOWN"],
      ["GET", `http://evil.example/v2/${NAME}/manifests/1`, 404, "NAME_UNKNOWN"],
      ["GET", `/v2/Internal/Alongside/tags/list`, 400, "NAME_INVALID"],
      ["GET", `/v2/internal/-alongside/tags/list`, 400, "NAME_INVALID"],
      ["GET", `/v2/internal/${"a".repeat(250)}/tags/list`, 400, "NAME_INVALID"],
      // An invalid tag names nothing to read; writing one is TAG_INVALID.
      ["GET", `/v2/${NAME}/manifests/..`, 404, "MANIFEST_UNKNOWN"],
      ["PUT", `/v2/${NAME}/manifests/..`, 400, "TAG_INVALID"],
      ["PUT", `/v2/${NAME}/manifests/${"t".repeat(129)}`, 400, "TAG_INVALID"],
      ["GET", `/v2/${NAME}/blobs/uploads/..`, 404, "BLOB_UPLOAD_UNKNOWN"],
      ["GET", `/v2/${NAME}/blobs/md5:${"a".repeat(32)}`, 400, "DIGEST_INVALID"],
      ["GET", `/v2/${NAME}/blobs/sha384:${"a".repeat(96)}`, 400, "DIGEST_INVALID"],
      ["GET", `/v2/${NAME}/blobs/sha256:${"a".repeat(63)}`, 400, "DIGEST_INVALID"],
      ["GET", `/v2/${NAME}/blobs/sha256:${"a".repeat(65)}`, 400, "DIGEST_INVALID"],
      ["GET", `/v2/${NAME}/blobs/${upper}`, 400, "DIGEST_INVALID"],
      ["GET", `/v2/${NAME}/blobs/SHA256:${DIGEST_HEX}`, 400, "DIGEST_INVALID"],
      ["DELETE", `/v2/${NAME}/blobs/sha256:..`, 400, "DIGEST_INVALID"],
      ["GET", `/v2/${NAME}/manifests/${upper}`, 400, "DIGEST_INVALID"],
      ["GET", `/v2/${NAME}/manifests/sha512:${"a".repeat(64)}`, 400, "DIGEST_INVALID"],
      ["GET", `/v2/${NAME}/referrers/sha256:abc`, 400, "DIGEST_INVALID"],
      ["POST", `/v2/${NAME}/blobs/uploads/?mount=${layer.digest}&from=../../etc`, 400, "NAME_INVALID"],
      ["POST", `/v2/${NAME}/blobs/uploads/?mount=md5:x&from=internal/x`, 400, "DIGEST_INVALID"],
      ["OPTIONS", `/v2/${NAME}/manifests/1`, 405, "UNSUPPORTED"],
    ];
    for (const [method, target, status, code] of cases) {
      const answer = await send(head(method, target, { "content-length": 0 }));
      assertError(answer, status, code, `${method} ${target}`);
      answer.connection.destroy();
    }
  });

  test("bytes no client should send in a request line or header: 400 in the spec's envelope, connection closed", async () => {
    const requests = [
      "GET /v2/internal/a b/tags/list HTTP/1.1\r\nhost: wharf\r\n\r\n",
      "GET /v2/internal/a\0b/tags/list HTTP/1.1\r\nhost: wharf\r\n\r\n",
      "GET /v2/internal/\u00e9/tags/list HTTP/1.1\r\nhost: wharf\r\n\r\n",
      "get /v2/ HTTP/1.1\r\nhost: wharf\r\n\r\n",
      "BREW /v2/ HTTP/1.1\r\nhost: wharf\r\n\r\n",
      "GET /v2/ HTTP/1.1\r\nhost: wharf\r\nx: a\u0001b\r\n\r\n",
      "GET /v2/ HTTP/1.1\nhost: wharf\n\n",
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ];
    for (const request of requests) {
      const answer = await send(request);
      assertError(answer, 400, "UNKNOWN", JSON.stringify(request));
      await assertClosed(answer.connection, JSON.stringify(request));
    }
    const noHost = await send("GET /v2/ HTTP/1.1\r\n\r\n");
    assertError(noHost, 400, "UNKNOWN", "HTTP/1.1 without Host");
    noHost.connection.destroy();
    const tunnel = await send("CONNECT evil.example:443 HTTP/1.1\r\nhost: evil.example:443\r\n\r\n");
    assertError(tunnel, 405, "UNSUPPORTED", "CONNECT");
    await assertClosed(tunnel.connection, "CONNECT");
  });

  test("a TLS handshake on the plain HTTP port (clients probe HTTPS first): closed at once, no log line above debug", async () => {
    const before = wharf.logLines().length;
    const connection = await connect();
    // A TLS 1.2 ClientHello record header and the start of its body: what podman sends first.
    connection.write(Buffer.from("16030100a5010000a10303", "hex"));
    // no answer at all (an answer, a 408 after the head timeout included, would have a status)
    const answer = await connection.answer({ timeoutMs: CUT_OFF_MS });
    assert.equal(
      answer.status,
      0,
      "an HTTP answer means nothing to a TLS client: the connection just closes",
    );
    const logged = wharf
      .logLines()
      .slice(before)
      .filter((line) => String(line.msg).includes("HTTP parser"));
    assert.deepEqual(logged, []);
  });

  test("request smuggling: Content-Length with Transfer-Encoding, two lengths, odd codings → 400 and close, nothing smuggled through", async () => {
    const smuggled = `GET /v2/internal/smuggled/tags/list HTTP/1.1\r\nhost: wharf\r\n\r\n`;
    const requests = [
      `${head("POST", `/v2/${NAME}/blobs/uploads/`, { "content-length": 4, "transfer-encoding": "chunked" })}0\r\n\r\n${smuggled}`,
      `${head("PUT", `/v2/${NAME}/manifests/x`, { "transfer-encoding": "chunked", "content-length": 60 })}0\r\n\r\n${smuggled}`,
      `${head("PUT", `/v2/${NAME}/manifests/x`, { "content-length": 4 }).replace("\r\n\r\n", "\r\ncontent-length: 70\r\n\r\n")}abcd${smuggled}`,
      `${head("PUT", `/v2/${NAME}/manifests/x`, { "transfer-encoding": "xchunked" })}0\r\n\r\n${smuggled}`,
      `${head("PUT", `/v2/${NAME}/manifests/x`, { "transfer-encoding": "chunked, identity" })}0\r\n\r\n${smuggled}`,
      `${head("PUT", `/v2/${NAME}/manifests/x`, { "transfer-encoding ": "chunked" })}0\r\n\r\n${smuggled}`,
      `${head("PUT", `/v2/${NAME}/manifests/x`, { "content-length": "+4" })}abcd${smuggled}`,
      `${head("PUT", `/v2/${NAME}/manifests/x`, { "transfer-encoding": "chunked" })}zz\r\nabcd\r\n0\r\n\r\n${smuggled}`,
    ];
    for (const request of requests) {
      const answer = await send(request);
      assertError(answer, 400, "UNKNOWN", JSON.stringify(request.slice(0, 120)));
      // a smuggled request that got through would be answered here too
      await assertClosed(answer.connection, JSON.stringify(request.slice(0, 120)));
    }
    await sleep(200);
    const smuggledLines = wharf.logLines().filter((l) => String(l.path ?? "").includes("smuggled"));
    assert.deepEqual(smuggledLines, [], "no smuggled request reached wharf");
  });

  test("heads: 20 KiB of header → 431; endless header lines → 431 and close; one byte a second → 408 and close", async () => {
    const huge = await send(head("GET", "/v2/", { "x-huge": "a".repeat(20 * KiB) }));
    assertError(huge, 431, "UNKNOWN", "20 KiB header");
    await assertClosed(huge.connection, "20 KiB header");

    const endless = await connect();
    endless.write("GET /v2/ HTTP/1.1\r\nhost: wharf\r\n");
    // the client floods on for longer than the test waits: only wharf can end it in time
    const flooding = flood(
      endless,
      Buffer.from(`x-endless: ${"a".repeat(100)}\r\n`.repeat(64)),
      2 * CUT_OFF_MS,
    );
    assertError(await endless.answer(), 431, "UNKNOWN", "endless headers");
    assert.ok(await endless.closedWithin(CUT_OFF_MS), "an endless head is cut off");
    await flooding;

    const slow = await connect();
    slow.write("GET /v2/ HTTP/1.1\r\nhost: wharf\r\nx-slow: ");
    // a head that never ends: the 408 and the close can only come from wharf's timeout
    const dribbling = dribble(slow, 1);
    const answer = await slow.answer({ timeoutMs: CUT_OFF_MS });
    assertError(answer, 408, "UNKNOWN", "a head at one byte a second");
    assert.ok(await slow.closedWithin(CUT_OFF_MS), "and closed");
    await dribbling;
  });

  test("slow bodies: a manifest PUT or upload PATCH at one byte a second is cut off; a slow but steady upload is not", async () => {
    const location = locationPath(await startUpload(wharf.url, NAME));
    for (const [method, target] of [
      ["PUT", `/v2/${NAME}/manifests/slow`],
      ["PATCH", location],
    ] as const) {
      const slow = await connect();
      slow.write(
        head(method, target, { "content-length": 1000, "content-type": "application/octet-stream" }),
      );
      // 1000 bytes at one a second: the client is still sending when the answer comes
      const dribbling = dribble(slow, 1, 1000);
      const answer = await slow.answer({ timeoutMs: CUT_OFF_MS });
      assertError(answer, 408, "UNKNOWN", `${method} at one byte a second`);
      assert.ok(await slow.closedWithin(CUT_OFF_MS), `${method}: connection closed`);
      await dribbling;
    }
    // What the cut-off PATCH delivered stays, as with any dropped connection.
    const kept = uploadedBytes(await rawRequest(wharf.url, location));
    assert.ok(kept <= 10, `${kept} bytes kept`);

    // 8 KiB/s is slow, but four times the minimum rate: it takes three idle timeouts and must pass.
    const steady = locationPath(await startUpload(wharf.url, NAME));
    const total = 24 * KiB;
    const upload = await connect();
    upload.write(
      head("PATCH", steady, { "content-length": total, "content-type": "application/octet-stream" }),
    );
    const writing = dribble(upload, 8 * KiB, total, "s");
    const accepted = await upload.answer({ timeoutMs: 15_000 });
    await writing;
    upload.destroy();
    assert.equal(accepted.status, 202, accepted.body.toString());
    assert.equal(accepted.headers.range, `0-${total - 1}`);
    const bytes = Buffer.alloc(total, "s");
    const closed = await closeUpload(wharf.url, steady, sha256(bytes));
    assert.equal(closed.status, 201, closed.body.toString());
    const stored = await rawRequest(wharf.url, `/v2/${NAME}/blobs/${sha256(bytes)}`);
    assert.ok(stored.body.equals(bytes), "the slow upload is stored byte-exact");
  });

  test("manifests: over 4 MiB (announced or chunked) → 413, not JSON or 4 MiB deep → 400, Content-Type unknown or disagreeing", async () => {
    const put = (body: Buffer, headers: Record<string, string | number>, tag = "hostile") =>
      send(Buffer.concat([Buffer.from(head("PUT", `/v2/${NAME}/manifests/${tag}`, headers)), body]));
    const tooBig = Buffer.alloc(4 * MiB + 1, " ");
    const announced = await put(tooBig, {
      "content-length": tooBig.length,
      "content-type": MediaTypes.ociManifest,
    });
    assertError(announced, 413, "MANIFEST_INVALID", "4 MiB + 1, announced");
    // a server draining the unread body would answer the request that follows it
    await assertClosed(announced.connection, "4 MiB + 1, announced");

    const chunked = await connect();
    chunked.write(
      head("PUT", `/v2/${NAME}/manifests/hostile`, {
        "transfer-encoding": "chunked",
        "content-type": MediaTypes.ociManifest,
      }),
    );
    const slice = Buffer.concat([
      Buffer.from(`${(MiB).toString(16)}\r\n`),
      Buffer.alloc(MiB, " "),
      Buffer.from("\r\n"),
    ]);
    for (let i = 0; i < 5; i++) chunked.write(slice);
    assertError(await chunked.answer(), 413, "MANIFEST_INVALID", "over 4 MiB, chunked");
    await assertClosed(chunked, "over 4 MiB, chunked", "0\r\n\r\n");

    const json = { "content-type": MediaTypes.ociManifest };
    const notJson = Buffer.from("this is not JSON");
    assertError(
      await put(notJson, { ...json, "content-length": notJson.length }),
      400,
      "MANIFEST_INVALID",
      "not JSON",
    );
    const deep = Buffer.from(`${"[".repeat(2 * MiB)}${"]".repeat(2 * MiB)}`);
    const nested = await put(deep, { ...json, "content-length": deep.length });
    assertError(nested, 400, "MANIFEST_INVALID", "4 MiB of nesting");

    // The image's own manifest, which declares its mediaType.
    const manifest = layoutBytes(image, image.digest);
    const unknownType = await put(
      manifest,
      { "content-type": "application/x-unknown", "content-length": manifest.length },
      "ct-unknown",
    );
    assert.equal(
      unknownType.status,
      201,
      `a declared mediaType wins over an unknown Content-Type: ${unknownType.body}`,
    );
    const served = await rawRequest(wharf.url, `/v2/${NAME}/manifests/ct-unknown`, {
      headers: { accept: MediaTypes.ociManifest },
    });
    assert.equal(served.headers["content-type"], MediaTypes.ociManifest, "served with its own media type");
    const bare = Buffer.from(JSON.stringify({ schemaVersion: 2 }));
    assertError(
      await put(bare, { "content-type": "application/x-unknown", "content-length": bare.length }),
      400,
      "MANIFEST_INVALID",
      "neither Content-Type nor document says what it is",
    );
    assertError(
      await put(manifest, { "content-type": MediaTypes.dockerManifest, "content-length": manifest.length }),
      400,
      "MANIFEST_INVALID",
      "mediaType disagrees with Content-Type",
    );
  });

  test("uploads: beyond uploads.max_size → 413; overlapping and skipping chunks → 416 with Range; two writers → 416", async () => {
    const tooBig = Buffer.alloc(MAX_UPLOAD + 1, 7);
    const single = await startUpload(wharf.url, NAME, `digest=${sha256(tooBig)}`, tooBig);
    assertError(single, 413, "SIZE_INVALID", "POST ?digest= beyond max_size");

    const announced = locationPath(await startUpload(wharf.url, NAME));
    const refused = await send(
      head("PATCH", announced, {
        "content-length": MAX_UPLOAD + 1,
        "content-type": "application/octet-stream",
      }),
    );
    assertError(refused, 413, "SIZE_INVALID", "PATCH announcing more than max_size");
    await assertClosed(refused.connection, "PATCH announcing more than max_size");
    assert.equal(
      uploadedBytes(await rawRequest(wharf.url, announced)),
      0,
      "refused before a byte was written",
    );

    const streamed = locationPath(await startUpload(wharf.url, NAME));
    const chunked = await connect();
    chunked.write(
      head("PATCH", streamed, { "transfer-encoding": "chunked", "content-type": "application/octet-stream" }),
    );
    const slice = Buffer.concat([
      Buffer.from(`${(MiB).toString(16)}\r\n`),
      Buffer.alloc(MiB, 1),
      Buffer.from("\r\n"),
    ]);
    for (let i = 0; i < 4; i++) chunked.write(slice);
    assertError(await chunked.answer(), 413, "SIZE_INVALID", "chunked PATCH growing beyond max_size");
    await assertClosed(chunked, "chunked PATCH growing beyond max_size", "0\r\n\r\n");

    const chunk = Buffer.alloc(100, 3);
    const location = locationPath(await startUpload(wharf.url, NAME));
    assert.equal((await patchChunk(wharf.url, location, chunk, 0)).status, 202);
    for (const [what, start] of [
      ["overlapping", 50],
      ["skipping", 200],
    ] as const) {
      const res = await patchChunk(wharf.url, location, chunk, start);
      assertError(res, 416, "BLOB_UPLOAD_INVALID", `${what} chunk`);
      assert.equal(res.headers.range, "0-99", `${what}: the answer says where the upload stands`);
    }

    // One client streams a chunk steadily; a second one writing the same upload meanwhile is refused.
    const total = 32 * KiB;
    const first = await connect();
    first.write(
      head("PATCH", location, { "content-length": total, "content-type": "application/octet-stream" }),
    );
    const writing = dribble(first, 16 * KiB, total, "f");
    await sleep(300);
    const second = await patchChunk(wharf.url, location, Buffer.alloc(KiB, "s"), 100);
    assertError(second, 416, "BLOB_UPLOAD_INVALID", "a second writer");
    assert.ok(second.headers.range, "with the upload's Range");
    const firstAnswer = await first.answer({ timeoutMs: 10_000 });
    await writing;
    first.destroy();
    assert.equal(firstAnswer.status, 202, firstAnswer.body.toString());
    const bytes = Buffer.concat([chunk, Buffer.alloc(total, "f")]);
    const done = await closeUpload(wharf.url, location, sha256(bytes));
    assert.equal(done.status, 201, done.body.toString());
    assert.ok((await rawRequest(wharf.url, `/v2/${NAME}/blobs/${sha256(bytes)}`)).body.equals(bytes));
  });

  test("bodies where none belongs: a GET with a body is answered; one with an endless body is answered and cut off", async () => {
    const small = await send(`${head("GET", "/v2/", { "content-length": 5 })}hello`);
    assert.equal(small.status, 200);
    small.connection.destroy();

    // Answered at once; the rest of the body is drained, and a drain at one byte a second is cut off.
    const trickle = await connect();
    trickle.write(head("GET", "/v2/", { "content-length": 1000 }));
    const dribbling = dribble(trickle, 1, 1000);
    assert.equal((await trickle.answer()).status, 200);
    // 1000 bytes at one a second: only wharf can end the drain before the test stops waiting
    assert.ok(await trickle.closedWithin(CUT_OFF_MS), "the slow drain is cut off");
    await dribbling;

    const endless = await connect();
    endless.write(head("GET", `/v2/${NAME}/tags/list`, { "content-length": 10 * 1024 ** 3 }));
    // the client floods on for longer than the test waits: only wharf can end it in time
    const flooding = flood(endless, Buffer.alloc(64 * KiB, "x"), 2 * CUT_OFF_MS);
    const answer = await endless.answer();
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(JSON.parse(answer.body.toString()).name, NAME);
    assert.ok(await endless.closedWithin(CUT_OFF_MS), "a 10 GB body is not read to its end");
    await flooding;
    assert.ok(endless.sent < 10 * 1024 ** 3);
  });

  test("absurd n on tags/list and absurd Range on blobs", async () => {
    const tags = (query: string) => rawRequest(wharf.url, `/v2/${NAME}/tags/list?${query}`);
    for (const n of ["99999999999999999999", "-1", "1e3", "abc", "0x10", " 1"]) {
      assertError(await tags(`n=${encodeURIComponent(n)}`), 400, "PAGINATION_NUMBER_INVALID", `n=${n}`);
    }
    const all = await tags("n=999999999");
    assert.equal(all.status, 200);
    assert.deepEqual(JSON.parse(all.body.toString()).tags, ["1", "ct-unknown"]);
    assert.deepEqual(JSON.parse((await tags("n=0")).body.toString()).tags, []);

    const blob = (range: string) =>
      rawRequest(wharf.url, `/v2/${NAME}/blobs/${layer.digest}`, { headers: { range } });
    for (const range of [
      "bytes=99999999999999999999-",
      `bytes=${layer.size}-`,
      "bytes=5-1",
      "bytes=-0",
      `bytes=${"9".repeat(5000)}-`,
    ]) {
      const res = await blob(range);
      assertError(res, 416, "RANGE_INVALID", range.slice(0, 40));
      assert.equal(res.headers["content-range"], `bytes */${layer.size}`);
    }
    for (const range of ["bytes=0-99999999999999999999", "bytes=-99999999999999999999"]) {
      const res = await blob(range);
      assert.equal(res.status, 206, range);
      assert.equal(res.headers["content-range"], `bytes 0-${layer.size - 1}/${layer.size}`);
      assert.equal(sha256(res.body), layer.digest);
    }
    for (const range of ["items=0-1", "bytes=a-b", "bytes", "bytes=0-1,x", "bytes=0-,1-1"]) {
      const res = await blob(range);
      assert.equal(res.status, 200, `${range} is ignored: the whole blob`);
      assert.equal(sha256(res.body), layer.digest);
    }
    const many = await blob(`bytes=${Array.from({ length: 101 }, (_, i) => `${i}-${i}`).join(",")}`);
    assertError(many, 416, "RANGE_INVALID", "101 ranges");
    const parts = await blob("bytes=0-1,5-9");
    assert.equal(parts.status, 206);
    assert.deepEqual(
      rangeParts(String(parts.headers["content-type"]), parts.body).map((p) => p.contentRange),
      [`bytes 0-1/${layer.size}`, `bytes 5-9/${layer.size}`],
    );
  });

  test("thousands of idle connections are closed after the timeouts while normal requests go on", async (t) => {
    // never fewer sockets than the test says: a low limit fails here, with how to raise it
    assertRoomForIdleSockets("self");
    assertRoomForIdleSockets(wharf.pid());
    const count = IDLE_SOCKETS;
    const before = openSockets(wharf.pid());
    const idle: RawConnection[] = [];
    // How many wharf held at once depends on how fast this machine opens them against the
    // 1 s timeouts, so it is reported, not asserted: that each was accepted shows in its answer
    // or in wharf closing it, and a descriptor limit too low fails the connects or the accepts.
    let held = 0;
    // In batches, so the listen backlog never overflows (which would leave half-open sockets
    // that only the client believes in).
    // Half of them send one request and then stay idle on a keep-alive connection.
    const asked: RawConnection[] = [];
    for (let i = 0; i < count; i += 200) {
      const batch = await Promise.all(Array.from({ length: Math.min(200, count - i) }, () => connect()));
      for (const connection of batch.filter((_, j) => j % 2 === 1)) {
        connection.write(head("GET", "/v2/"));
        asked.push(connection);
      }
      idle.push(...batch);
      held = Math.max(held, openSockets(wharf.pid()) - before);
    }
    t.diagnostic(`wharf held up to ${held} of the ${count} connections at once`);
    for (let i = 0; i < 5; i++) {
      const res = await rawRequest(wharf.url, `/v2/${NAME}/blobs/${layer.digest}`, { timeoutMs: CUT_OFF_MS });
      assert.equal(res.status, 200);
      assert.equal(sha256(res.body), layer.digest);
    }
    // 408 where this machine was too slow to get the head out within the 1 s head timeout
    const answers = await Promise.all(asked.map((c) => c.answer({ timeoutMs: CUT_OFF_MS })));
    const unanswered = answers.filter((a) => a.status !== 200 && a.status !== 408);
    assert.deepEqual(unanswered, [], "every one that asked was answered");
    const deadline = performance.now() + CUT_OFF_MS;
    while (performance.now() < deadline && idle.some((c) => !c.closed)) await sleep(100);
    const open = idle.filter((c) => !c.closed).length;
    for (const connection of idle) connection.destroy();
    assert.equal(open, 0, `${open} of ${count} idle connections still open`);
    assert.ok(openSockets(wharf.pid()) < before + 100, "and wharf has let go of them");
  });

  test("the normal pulls alongside all finished byte-exact, and wharf is healthy", async (t) => {
    const report = await pulls.stop();
    t.diagnostic(`alongside: ${report.pulls} skopeo pulls, ${report.blobGets} blob GETs`);
    assert.deepEqual(report.failures, []);
    assert.ok(report.pulls >= 1, `${report.pulls} skopeo pulls`);
    assert.ok(report.blobGets >= 10, `${report.blobGets} blob GETs`);
    assert.equal((await rawRequest(wharf.url, "/v2/")).status, 200);
    const errors = wharf
      .logLines()
      .filter((l) => l.msg === "unexpected error" || (Number(l.level) >= 50 && !l.raw));
    assert.deepEqual(errors, [], "nothing surprised wharf");
  });

  test("after all that, a stop finds no request left: no handler waits for a body whose connection is gone", async () => {
    const mark = wharf.logMark();
    await wharf.stop();
    const steps = wharf.logLines(mark).map((line) => String(line.msg));
    assert.ok(steps.includes("stopped"), steps.join(" | "));
    assert.deepEqual(
      steps.filter((msg) => msg.startsWith("waiting up to")),
      [],
      "the stop had requests to wait for",
    );
  });
});
