import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

import { onFreePort, PORT_TAKEN } from "../system/ports.js";
import { type Daemon, spawnDaemon, waitHttp } from "../system/proc.js";
import { makeTempDir, removeTempDir } from "../system/tmp.js";

/** The compiled CLI: this file is dist/test/harness/wharf/start.js, the CLI dist/src/cli/wharf.js. */
export const WHARF_MAIN = fileURLToPath(new URL("../../../src/cli/wharf.js", import.meta.url));

export interface WharfOptions {
  /** Added to the child's environment; REGISTRY_HTTP_ADDR defaults to 127.0.0.1:<free port>. */
  env?: Record<string, string>;
  /** Extra arguments after `serve`. */
  args?: string[];
  /** Written to a file passed as --config. */
  configYaml?: string;
  /** --data DIR; default <temp dir>/data. null: no --data, wharf picks its own (./data in the temp dir). */
  dataDir?: string | null;
  startTimeoutMs?: number;
  /**
   * The PEM of the CA wharf's certificate chains to, when the configuration gives it one (`tls`):
   * `url` is then https:// and the start-up probe trusts this CA.
   */
  ca?: Buffer;
  /**
   * Keep wharf's default authentication on. Off by default here: most tests are about caching and
   * pushing, not logging in, so they run wharf open (`auth.enabled: false` / `WHARF_AUTH=off`)
   * unless their configuration or environment says something about auth itself.
   */
  secured?: boolean;
  /**
   * Keep wharf's default fetch-ahead on. Off by default here: most tests count the upstream
   * requests a client's pull makes, which blobs fetched ahead of the client would change; the
   * tests about fetching ahead (and the bench) turn it on.
   */
  fetchAhead?: boolean;
}

/** The configuration and environment with authentication (and fetch-ahead) off, unless the test asked for it. */
function openUnlessSecured(opts: WharfOptions): {
  configYaml: string | undefined;
  env: Record<string, string>;
} {
  const env = { ...opts.env };
  let configYaml = opts.configYaml;
  if (!opts.fetchAhead) env.WHARF_FETCH_AHEAD ??= "off";
  if (opts.secured) return { configYaml, env };
  if (configYaml !== undefined) {
    if (!/^auth:/m.test(configYaml)) configYaml = `${configYaml}\nauth:\n  enabled: false\n`;
  } else if (env.WHARF_AUTH === undefined && env.REGISTRY_AUTH_HTPASSWD_PATH === undefined) {
    env.WHARF_AUTH = "off";
  }
  return { configYaml, env };
}

export type WharfLogLine = Record<string, unknown>;

export interface Wharf {
  readonly url: string;
  /** 127.0.0.1:PORT */
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** The process's working directory (a temp dir). */
  readonly dir: string;
  /** The file passed as --config, when configYaml was given. */
  readonly configPath: string | undefined;
  /** The node process serving now (it changes on restart); -1 before the first start. */
  pid(): number;
  /**
   * Every JSON line wharf wrote to stdout so far, or those after `since` (a logMark()); non-JSON
   * lines come as { msg: line, raw: true }.
   */
  logLines(since?: number): WharfLogLine[];
  /** A position in the log: logLines(mark) holds only what was written after it. */
  logMark(): number;
  /** Resolves with the first log line matching (after `since`, a logMark()), polling until timeoutMs. */
  waitLog(match: (line: WharfLogLine) => boolean, timeoutMs?: number, since?: number): Promise<WharfLogLine>;
  stop(): Promise<void>;
  /** Stops and starts again: same port, same data. */
  restart(): Promise<void>;
  /** Stops and removes the temp dir (and with it the default data dir). */
  close(): Promise<void>;
}

export function inheritedEnv(): NodeJS.ProcessEnv {
  // a developer's exported REGISTRY_* settings must not leak into the server under test
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("REGISTRY_")));
}

function parseLines(text: string): WharfLogLine[] {
  // the last piece is a line still being written, until its newline comes
  return text
    .split("\n")
    .slice(0, -1)
    .filter((line) => line.trim() !== "")
    .map((line) => {
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as WharfLogLine;
      } catch {
        // a line from something other than the logger, e.g. a crash trace
      }
      return { msg: line, raw: true };
    });
}

/** Runs `node dist/src/cli/wharf.js serve` on a free port and waits for GET /v2/ to answer. */
export async function startWharf(opts: WharfOptions = {}): Promise<Wharf> {
  if (!fs.existsSync(WHARF_MAIN))
    throw new Error(`${WHARF_MAIN} missing: build first (npx tsc -p tsconfig.json)`);
  const dir = makeTempDir("server");
  const dataDir = opts.dataDir ?? path.join(dir, "data");
  const args = [WHARF_MAIN, "serve", ...(opts.dataDir === null ? [] : ["--data", dataDir])];
  const auth = openUnlessSecured(opts);
  const configPath = auth.configYaml === undefined ? undefined : path.join(dir, "config.yml");
  if (configPath !== undefined) {
    fs.writeFileSync(configPath, auth.configYaml ?? "");
    args.push("--config", configPath);
  }
  args.push(...(opts.args ?? []));
  let port = 0;
  let url = "";
  let env: NodeJS.ProcessEnv = {};
  const listenOn = (addr: string) => {
    port = Number(addr.slice(addr.lastIndexOf(":") + 1));
    url = `${opts.ca ? "https" : "http"}://127.0.0.1:${port}`;
    env = { ...inheritedEnv(), ...auth.env, REGISTRY_HTTP_ADDR: addr };
  };
  let daemon: Daemon | undefined;

  async function start(): Promise<void> {
    daemon = spawnDaemon({ name: "wharf", command: process.execPath, args, logDir: dir, env, cwd: dir });
    await waitHttp(
      { url: `${url}/v2/`, ...(opts.ca ? { ca: opts.ca } : {}) },
      opts.startTimeoutMs ?? 30_000,
      daemon,
    );
  }
  async function stop(): Promise<void> {
    await daemon?.stop();
  }
  const logLines = (since = 0) => {
    const file = path.join(dir, "wharf.stdout");
    return fs.existsSync(file) ? parseLines(fs.readFileSync(file, "utf8")).slice(since) : [];
  };

  const given = opts.env?.REGISTRY_HTTP_ADDR;
  if (given !== undefined) {
    listenOn(given);
    await start();
  } else {
    await onFreePort(async (free) => {
      listenOn(`127.0.0.1:${free}`);
      try {
        await start();
      } catch (error) {
        await stop();
        // the next attempt's log starts empty: tests count lines such as "listening"
        if (PORT_TAKEN.test(String(error)))
          for (const file of ["wharf.stdout", "wharf.stderr"])
            fs.rmSync(path.join(dir, file), { force: true });
        throw error;
      }
    });
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    port,
    dataDir,
    dir,
    configPath,
    pid: () => daemon?.pid ?? -1,
    logLines,
    logMark: () => logLines().length,
    async waitLog(match, timeoutMs = 10_000, since = 0) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logLines(since).find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching wharf log line within ${timeoutMs} ms`);
        await sleep(50);
      }
    },
    stop,
    async restart() {
      await stop();
      await start();
    },
    async close() {
      await stop();
      await removeTempDir(dir);
    },
  };
}
