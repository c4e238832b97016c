import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, test } from "node:test";
import { type Colors, formatLogLine, prettyDestination } from "../../src/cli/pretty-log.js";
import { createLogger } from "../../src/logger.js";

const plain: Colors = {
  red: (t) => t,
  yellow: (t) => t,
  green: (t) => t,
  cyan: (t) => t,
  magenta: (t) => t,
  dim: (t) => t,
};

/** Colours made visible: `<red>…</red>`. */
const tagged = Object.fromEntries(
  Object.keys(plain).map((name) => [name, (t: string) => `<${name}>${t}</${name}>`]),
) as unknown as Colors;

const REQUEST = {
  level: 30,
  time: "2026-01-01T10:00:00.000Z",
  service: "wharf",
  reqId: "9a7c…",
  method: "GET",
  path: "/v2/library/alpine/blobs/sha256:abc",
  status: 200,
  ms: 12.3,
  bytes: 3 * 1024 * 1024,
  repo: "docker-hub",
  cache: "hit",
  remote: "127.0.0.1",
  ua: "containerd/1.7",
  msg: "request",
};

describe("the human log", () => {
  test("a request is one short line: method, path, status, ms, size, cache, repository", () => {
    assert.equal(
      formatLogLine(REQUEST, plain),
      "GET /v2/library/alpine/blobs/sha256:abc 200 12.3ms 3.0 MiB hit docker-hub",
    );
  });

  test("status and cache outcome are coloured by what they mean", () => {
    const line = formatLogLine({ ...REQUEST, status: 503, cache: "stale", error: "UNAVAILABLE" }, tagged);
    assert.match(line, /<red>503<\/red>/);
    assert.match(line, /<magenta>stale<\/magenta>/);
    assert.match(line, /<yellow>UNAVAILABLE<\/yellow>/);
    assert.match(formatLogLine({ ...REQUEST, status: 404 }, tagged), /<yellow>404<\/yellow>/);
    assert.match(formatLogLine({ ...REQUEST, cache: "miss" }, tagged), /<yellow>miss<\/yellow>/);
    assert.match(formatLogLine(REQUEST, tagged), /<green>200<\/green>.*<green>hit<\/green>/);
  });

  test("a request cut short says so, and names its user", () => {
    const line = formatLogLine({ ...REQUEST, status: 0, aborted: true, user: "alice" }, plain);
    assert.match(line, / 0 .* user=alice aborted$/);
  });

  test("another event is its message and its fields as key=value, quoted only where needed", () => {
    const line = formatLogLine(
      {
        level: 30,
        time: "…",
        pid: 1,
        hostname: "h",
        service: "wharf",
        msg: "blob fetched from upstream",
        repo: "docker-hub",
        bytes: 1234,
        stored: true,
        reason: "two words",
        repositories: ["a", "b"],
      },
      plain,
    );
    assert.equal(
      line,
      'blob fetched from upstream repo=docker-hub bytes=1234 stored=true reason="two words" repositories=["a","b"]',
    );
  });

  test("an error shows its message inline, and its stack only from level error on", () => {
    const err = { type: "Error", message: "disk full", stack: "Error: disk full\n    at write (x.js:1:1)" };
    const warn = formatLogLine({ level: 40, msg: "cannot spool blob", err }, plain);
    assert.equal(warn, 'cannot spool blob error="disk full"');
    const error = formatLogLine({ level: 50, msg: "cannot spool blob", err }, plain);
    assert.equal(error, 'cannot spool blob error="disk full"\n    at write (x.js:1:1)');
  });

  test("through pino-pretty: time, level and the line; secrets redacted as in the JSON form", async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on("data", (chunk: Buffer) => chunks.push(chunk));
    const logger = createLogger({
      level: "info",
      destination: prettyDestination({ colors: false, destination: out }),
    });
    logger.info(REQUEST, "request");
    logger.info(
      { upstream: { url: "http://u", password: "hunter2" }, authorization: "Basic abc" },
      "configured",
    );
    await new Promise((resolve) => setImmediate(resolve));
    const lines = Buffer.concat(chunks).toString("utf8").trimEnd().split("\n");
    assert.equal(lines.length, 2, lines.join("\n"));
    assert.match(
      lines[0] ?? "",
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: GET \/v2\/library\/alpine\/blobs\/sha256:abc 200 12\.3ms/,
    );
    assert.match(
      lines[1] ?? "",
      /configured upstream=\{"url":"http:\/\/u","password":"\[REDACTED\]"\} authorization=\[REDACTED\]/,
    );
    assert.doesNotMatch(lines.join("\n"), /hunter2|Basic abc/);
  });

  test("the JSON form stays what machines parse", () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on("data", (chunk: Buffer) => chunks.push(chunk));
    const logger = createLogger({ level: "info", destination: out });
    logger.info({ token: "t0ken" }, "hello");
    const line = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
    assert.equal(line.msg, "hello");
    assert.equal(line.service, "wharf");
    assert.equal(line.token, "[REDACTED]");
  });
});
