// Issue 9, item 6: `wharf serve` writes a log a person can read on a terminal and JSON lines
// otherwise; --log-format, WHARF_LOG_FORMAT and log.format choose either.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { stripVTControlCharacters } from "node:util";
import { freePort } from "../harness/system/ports.js";
import { runCommand, spawnDaemon, waitHttp } from "../harness/system/proc.js";
import { makeTempDir, removeTempDir } from "../harness/system/tmp.js";
import { inheritedEnv, WHARF_MAIN } from "../harness/wharf/start.js";

const ESC = "\u001b[";

/** A config-less wharf that needs no upstream: nothing here asks it for an image. */
async function serveEnv(): Promise<{ env: NodeJS.ProcessEnv; url: string }> {
  const port = await freePort();
  return {
    url: `http://127.0.0.1:${port}`,
    env: {
      ...inheritedEnv(),
      REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
      REGISTRY_PROXY_REMOTEURL: "http://127.0.0.1:9",
      WHARF_AUTH: "off",
      TERM: "xterm",
    },
  };
}

/**
 * `wharf serve ARGS` on a pseudo-terminal (script(1)), asked for /v2/ once it answers, and
 * stopped with SIGINT (as Ctrl-C would) after `seconds`: what the terminal showed.
 */
async function onTerminal(
  args: string[],
  extraEnv: Record<string, string> = {},
  seconds = 3,
): Promise<string> {
  const dir = makeTempDir("log-tty");
  try {
    const { env, url } = await serveEnv();
    const serve = [
      "timeout",
      "--preserve-status",
      "-s",
      "INT",
      String(seconds),
      process.execPath,
      WHARF_MAIN,
      "serve",
      "--data",
      path.join(dir, "data"),
      ...args,
    ];
    const typescript = path.join(dir, "typescript");
    const running = runCommand("script", ["-qec", serve.map((part) => `'${part}'`).join(" "), typescript], {
      env: { ...env, ...extraEnv },
      cwd: dir,
      timeoutMs: 30_000,
    });
    await waitHttp(`${url}/v2/`, 10_000);
    await running;
    return fs.readFileSync(typescript, "utf8");
  } finally {
    await removeTempDir(dir);
  }
}

describe("the log's two forms", () => {
  test("on a terminal: short coloured lines, one per request, and the stop's steps", async () => {
    const screen = await onTerminal([]);
    assert.ok(screen.includes(ESC), "coloured");
    const plain = stripVTControlCharacters(screen);
    assert.match(plain, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: GET \/v2\/ 200 [\d.]+ms 2 B\r?$/m);
    assert.match(plain, /INFO: wharf started version=\S+ dataDir=\S+ repositories=\["docker-hub"\]/);
    assert.match(
      plain,
      /INFO: stopping: new connections refused, \/readyz answers 503 reason=SIGINT graceMs=30000/,
    );
    assert.match(plain, /INFO: stopped ms=\d+/);
    assert.doesNotMatch(plain, /^\{"level"/m);
  });

  test("on a terminal, WHARF_LOG_FORMAT=json keeps JSON lines", async () => {
    const screen = await onTerminal([], { WHARF_LOG_FORMAT: "json" });
    const lines = screen.split(/\r?\n/).filter((line) => line.startsWith("{"));
    assert.ok(lines.length >= 3, screen);
    const request = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((l) => l.msg === "request");
    assert.equal(request?.path, "/v2/");
  });

  test("without a terminal JSON lines; --log-format pretty and log.format: pretty force the human form, uncoloured", async (t) => {
    const dir = makeTempDir("log-pipe");
    t.after(() => removeTempDir(dir));
    const configPath = path.join(dir, "wharf.yml");
    fs.writeFileSync(
      configPath,
      "log: { format: pretty }\nauth: { enabled: false }\nrepositories:\n  hub: { type: proxy, upstream: { url: 'http://127.0.0.1:9' } }\n",
    );
    const runs: Array<[string, string[]]> = [
      ["json", []],
      ["flag", ["--log-format", "pretty"]],
      ["config", ["--config", configPath]],
    ];
    for (const [name, args] of runs) {
      const { env, url } = await serveEnv();
      const daemon = spawnDaemon({
        name,
        command: process.execPath,
        args: [WHARF_MAIN, "serve", "--data", path.join(dir, `data-${name}`), ...args],
        logDir: dir,
        env,
        cwd: dir,
      });
      await waitHttp(`${url}/v2/`, 10_000, daemon);
      await daemon.stop();
      assert.equal(await daemon.exited, 0);
      const out = fs.readFileSync(daemon.stdoutPath, "utf8");
      if (name === "json") {
        for (const line of out.trimEnd().split("\n")) JSON.parse(line);
      } else {
        assert.ok(!out.includes(ESC), `${name}: no colours without a terminal`);
        assert.match(out, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: GET \/v2\/ 200 [\d.]+ms 2 B$/m, name);
      }
    }
  });
});
