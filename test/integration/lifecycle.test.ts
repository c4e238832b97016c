// Issue 9, item 6: a stop on SIGTERM that a load balancer and a service manager can rely on. At
// the signal the listener closes and /readyz fails; requests and downloads in flight get the grace
// period; what is still running then is cut off without leaving anything half-written; the process
// exits 0. A restart serves the image. /readyz names the check that fails.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import YAML from "yaml";
import { skopeoCopy } from "../harness/clients/index.js";
import { streamGet } from "../harness/http/requests.js";
import { pushImage } from "../harness/images/push.js";
import { expectedContent, getImage } from "../harness/images/test-images.js";
import { freePort } from "../harness/system/ports.js";
import { type Daemon, spawnDaemon, waitHttp } from "../harness/system/proc.js";
import { makeTempDir, removeTempDir } from "../harness/system/tmp.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { type FaultProxy, startFaultProxy } from "../harness/upstream/fault-proxy.js";
import { spoolEntries, storedDigests } from "../harness/wharf/data.js";
import { proxyEnv } from "../harness/wharf/proxy-env.js";
import { inheritedEnv, startWharf, WHARF_MAIN } from "../harness/wharf/start.js";

const MiB = 1024 * 1024;

/** `wharf serve` as its own process, so a test can signal it and read its exit code. */
interface Served {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly daemon: Daemon;
  logs(): Array<Record<string, unknown>>;
}

async function serve(dir: string, upstreamUrl: string, graceSeconds: number): Promise<Served> {
  const port = await freePort();
  const dataDir = path.join(dir, "data");
  const config = {
    listen: `127.0.0.1:${port}`,
    data_dir: dataDir,
    shutdown_grace: `${graceSeconds}s`,
    auth: { enabled: false },
    repositories: { hub: { type: "proxy", upstream: { url: upstreamUrl, library_prefix: true } } },
  };
  const configPath = path.join(dir, "config.yml");
  fs.writeFileSync(configPath, YAML.stringify(config));
  const daemon = spawnDaemon({
    name: "wharf",
    command: process.execPath,
    args: [WHARF_MAIN, "serve", "--config", configPath],
    logDir: dir,
    env: inheritedEnv(),
    cwd: dir,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/v2/`, 30_000, daemon);
  const logs = () =>
    fs
      .readFileSync(daemon.stdoutPath, "utf8")
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { url, port, dataDir, daemon, logs };
}

/** Every stored file hashes to its name: nothing half-written under blobs/. */
function assertStoreVerified(dataDir: string): void {
  for (const digest of storedDigests(dataDir)) {
    const [algorithm, hex = ""] = digest.split(":");
    const file = path.join(dataDir, "blobs", algorithm as string, hex.slice(0, 2), hex);
    const actual = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
    assert.equal(`sha256:${actual}`, digest, `${file} holds other bytes than its name says`);
  }
}

function exitWithin(daemon: Daemon, ms: number): Promise<number | null | "still running"> {
  return Promise.race([daemon.exited, sleep(ms, "still running" as const)]);
}

/** A GET /readyz on a new connection: its status, or the connection error's code. */
function probeReady(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/readyz`, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** One HTTP/1.1 response cut out of raw bytes: head, and a body of its Content-Length. */
function splitResponse(raw: Buffer): {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  rest: Buffer;
} {
  const end = raw.indexOf("\r\n\r\n");
  assert.ok(end > 0, "a response head");
  const [statusLine = "", ...lines] = raw.subarray(0, end).toString("latin1").split("\r\n");
  const headers = Object.fromEntries(
    lines.map((line) => [
      line.slice(0, line.indexOf(":")).toLowerCase(),
      line.slice(line.indexOf(":") + 1).trim(),
    ]),
  );
  const length = Number(headers["content-length"]);
  const body = raw.subarray(end + 4, end + 4 + length);
  return { status: Number(statusLine.split(" ")[1]), headers, body, rest: raw.subarray(end + 4 + length) };
}

describe("lifecycle: SIGTERM, grace period, readiness", () => {
  let up: Upstream;
  let proxy: FaultProxy;
  const big = getImage("big");
  const layers = big.manifests[0]!.layers;

  before(async () => {
    up = await startUpstream({ auth: "none" });
    await pushImage(big, up, "library/big:latest");
    proxy = await startFaultProxy({ target: up.url });
  });
  after(async () => {
    await proxy?.close();
    await up?.close();
  });

  test("SIGTERM during a cold pull: /readyz fails at once, the pull completes within the grace period, exit 0", async (t) => {
    const dir = makeTempDir("lifecycle");
    t.after(() => removeTempDir(dir));
    const layer = layers[0]!;
    // 8 MiB at 4 MiB/s: two seconds of download, well inside a 20 s grace period.
    proxy.setMode("slow-blob", { digests: [layer.digest], bytesPerSec: 4 * MiB });
    t.after(() => proxy.setMode("ok"));
    const wharf = await serve(dir, proxy.url, 20);
    t.after(() => wharf.daemon.stop());

    const socket = net.connect(wharf.port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.write(`GET /v2/library/big/blobs/${layer.digest} HTTP/1.1\r\nHost: wharf\r\n\r\n`);
    while (Buffer.concat(chunks).length < 64 * 1024) await sleep(10);

    const signalled = performance.now();
    process.kill(wharf.daemon.pid, "SIGTERM");
    // Probing before wharf has seen the signal would add a request of the test's own to the stop.
    const stopping = () => wharf.logs().some((line) => String(line.msg).startsWith("stopping"));
    for (let i = 0; i < 500 && !stopping(); i++) await sleep(10);
    assert.equal(await probeReady(wharf.url), "ECONNREFUSED", "new connections are refused at once");
    // The busy connection stays: its next request is a load balancer's next probe.
    socket.write("GET /readyz HTTP/1.1\r\nHost: wharf\r\n\r\n");

    await ended;
    const blob = splitResponse(Buffer.concat(chunks));
    assert.equal(blob.status, 200);
    assert.equal(blob.body.length, layer.size);
    assert.equal(`sha256:${crypto.createHash("sha256").update(blob.body).digest("hex")}`, layer.digest);
    const ready = splitResponse(blob.rest);
    assert.equal(ready.status, 503);
    assert.equal(ready.headers.connection, "close");
    assert.deepEqual(JSON.parse(ready.body.toString()), {
      ready: false,
      checks: { shutdown: { ok: false, error: "shutting down" } },
    });

    assert.equal(await exitWithin(wharf.daemon, 20_000), 0);
    assert.ok(performance.now() - signalled < 20_000, "within the grace period");
    const messages = wharf.logs().map((line) => String(line.msg));
    assert.equal(messages.filter((m) => m.startsWith("stopping")).length, 1, messages.join("\n"));
    assert.equal(
      messages.filter((m) => /^waiting up to 20000 ms for 1 request and 1 download$/.test(m)).length,
      1,
    );
    assert.equal(messages.filter((m) => m === "stopped").length, 1);
    assert.ok(!messages.some((m) => m.startsWith("cutting off")), "nothing had to be cut off");
    assert.ok(storedDigests(wharf.dataDir).includes(layer.digest), "the completed download was kept");
    assertStoreVerified(wharf.dataDir);
  });

  test("a download slower than the grace period is cut off cleanly; a restart serves the image", async (t) => {
    const dir = makeTempDir("lifecycle");
    t.after(() => removeTempDir(dir));
    const layer = layers[1]!;
    // 8 MiB at 128 KiB/s would take a minute; the grace period is 1.5 s.
    proxy.setMode("slow-blob", { digests: [layer.digest], bytesPerSec: 128 * 1024 });
    t.after(() => proxy.setMode("ok"));
    const wharf = await serve(dir, proxy.url, 1.5);
    t.after(() => wharf.daemon.stop());

    let started: () => void = () => {};
    const receiving = new Promise<void>((resolve) => (started = resolve));
    const client = streamGet(wharf.url, `/v2/library/big/blobs/${layer.digest}`, { onData: () => started() });
    await receiving;
    const signalled = performance.now();
    process.kill(wharf.daemon.pid, "SIGTERM");

    assert.equal(await exitWithin(wharf.daemon, 10_000), 0);
    const took = performance.now() - signalled;
    assert.ok(took >= 1400 && took < 1500 + 3000, `stopped after ${Math.round(took)} ms`);
    const cut = await client;
    assert.equal(cut.complete, false, "the client saw a short body, not a complete wrong one");
    assert.ok(cut.bytes < layer.size);
    const messages = wharf.logs().map((line) => String(line.msg));
    assert.ok(messages.includes("cutting off 1 request and 1 download"), messages.join("\n"));
    assert.equal(messages.filter((m) => m === "stopped").length, 1);
    assert.ok(!storedDigests(wharf.dataDir).includes(layer.digest), "the cut download is not in the store");
    assertStoreVerified(wharf.dataDir);
    const debris = spoolEntries(wharf.dataDir);
    assert.ok(
      debris.every((name) => name.startsWith("fill-")),
      `only spool files: ${debris.join(", ")}`,
    );

    // The restart clears the spool; the upstream is healthy again, and the pull is byte-exact.
    proxy.setMode("ok");
    const again = await serve(dir, proxy.url, 1.5);
    t.after(() => again.daemon.stop());
    assert.deepEqual(spoolEntries(again.dataDir), []);
    const pulled = await skopeoCopy(`127.0.0.1:${again.port}/library/big:latest`, makeTempDir("pull"), {
      timeoutMs: 60_000,
    });
    assert.deepEqual(pulled.content, expectedContent(big));
    assertStoreVerified(again.dataDir);
  });

  test("a second signal exits at once, non-zero", async (t) => {
    const dir = makeTempDir("lifecycle");
    t.after(() => removeTempDir(dir));
    const layer = layers[2]!;
    proxy.setMode("slow-blob", { digests: [layer.digest], bytesPerSec: 128 * 1024 });
    t.after(() => proxy.setMode("ok"));
    const wharf = await serve(dir, proxy.url, 30);
    t.after(() => wharf.daemon.stop());
    let started: () => void = () => {};
    const receiving = new Promise<void>((resolve) => (started = resolve));
    const client = streamGet(wharf.url, `/v2/library/big/blobs/${layer.digest}`, { onData: () => started() });
    await receiving;
    process.kill(wharf.daemon.pid, "SIGTERM");
    for (let i = 0; i < 200 && !wharf.logs().some((l) => String(l.msg).startsWith("waiting")); i++)
      await sleep(10);
    process.kill(wharf.daemon.pid, "SIGTERM");
    assert.equal(await exitWithin(wharf.daemon, 2000), 128 + 15);
    assert.equal((await client).complete, false);
  });

  test("/readyz names each check; a store that cannot be written makes it 503 while /healthz stays 200", async (t) => {
    const wharf = await startWharf({
      secured: true,
      env: { ...proxyEnv(up.url), WHARF_ADMIN_PASSWORD: "lifecycle-admin-pw" },
    });
    t.after(() => wharf.close());
    const ready = async () => {
      const res = await fetch(`${wharf.url}/readyz`);
      return {
        status: res.status,
        body: (await res.json()) as { checks: Record<string, { ok: boolean; error?: string }> },
      };
    };
    assert.deepEqual(await ready(), {
      status: 200,
      body: {
        ready: true,
        checks: { store: { ok: true }, metadata: { ok: true }, auth: { ok: true }, shutdown: { ok: true } },
      },
    });
    // Root writes anywhere, whatever the modes say: a vanished spool directory stands for a lost disk.
    const spool = path.join(wharf.dataDir, "tmp");
    fs.rmSync(spool, { recursive: true });
    let answer = await ready();
    for (let i = 0; i < 60 && answer.status === 200; i++, await sleep(50)) answer = await ready();
    assert.equal(answer.status, 503);
    assert.equal(answer.body.checks.store?.ok, false);
    assert.match(answer.body.checks.store?.error ?? "", /ENOENT/);
    assert.deepEqual(answer.body.checks.metadata, { ok: true });
    assert.equal((await fetch(`${wharf.url}/healthz`)).status, 200);
    fs.mkdirSync(spool);
    for (let i = 0; i < 60 && answer.status !== 200; i++, await sleep(50)) answer = await ready();
    assert.equal(answer.status, 200);
  });
});
