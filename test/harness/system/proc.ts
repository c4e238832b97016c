import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { atExit } from "./exit.js";

export interface DaemonOptions {
  /** Names the log files (<name>.stdout / <name>.stderr) and error messages. */
  name: string;
  command: string;
  args: string[];
  /** Directory for the log files; they are appended to, so a restarted daemon keeps its history. */
  logDir: string;
  /** The child's whole environment: nothing is inherited implicitly. */
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface Daemon {
  readonly name: string;
  readonly pid: number;
  readonly stdoutPath: string;
  readonly stderrPath: string;
  /** Resolves with the exit code (null if killed by a signal) once the process is gone. */
  readonly exited: Promise<number | null>;
  running(): boolean;
  /** SIGTERM, then SIGKILL to the whole process group after timeoutMs. */
  stop(timeoutMs?: number): Promise<void>;
  /** The last lines of stderr and stdout, for error messages. */
  tail(lines?: number): string;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

function installHint(e: NodeJS.ErrnoException): string {
  return e.code === "ENOENT" ? " (not installed? run `scripts/install-test-deps.sh`)" : "";
}

function tailOf(file: string, lines: number): string {
  try {
    return fs
      .readFileSync(file, "utf8")
      .split("\n")
      .slice(-lines - 1)
      .join("\n");
  } catch {
    return "";
  }
}

/**
 * Starts a long-running process in its own process group (so helpers it forks, like dockerd's
 * containerd, can be killed with it), logging stdout and stderr to files.
 */
export function spawnDaemon(opts: DaemonOptions): Daemon {
  const stdoutPath = path.join(opts.logDir, `${opts.name}.stdout`);
  const stderrPath = path.join(opts.logDir, `${opts.name}.stderr`);
  const out = fs.openSync(stdoutPath, "a");
  const err = fs.openSync(stderrPath, "a");
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ["ignore", out, err],
      detached: true,
    });
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
  }
  let alive = true;
  const exited = new Promise<number | null>((resolve) => {
    child.once("error", (e) => {
      alive = false;
      fs.appendFileSync(stderrPath, `spawn ${opts.command} failed: ${e.message}${installHint(e)}\n`);
      resolve(null);
    });
    child.once("exit", (code) => {
      alive = false;
      resolve(code);
    });
  });
  const pid = child.pid ?? -1;
  const unregister = atExit(() => {
    if (pid > 0) killGroup(pid, "SIGKILL");
  });
  // A daemon that a failed before() never got to stop must not keep the test file's process, and
  // so the whole run, waiting: once nothing else is left, the process exits and the hook kills it.
  child.unref();
  void exited.then(unregister);

  return {
    name: opts.name,
    pid,
    stdoutPath,
    stderrPath,
    exited,
    running: () => alive,
    tail: (lines = 20) =>
      `--- ${opts.name} stderr:\n${tailOf(stderrPath, lines)}\n--- ${opts.name} stdout:\n${tailOf(stdoutPath, lines)}`,
    async stop(timeoutMs = 10_000) {
      if (pid > 0 && alive) {
        // Referenced while we wait: an unreferenced child's exit would not keep this process alive.
        child.ref();
        child.kill("SIGTERM");
        const timer = setTimeout(() => killGroup(pid, "SIGKILL"), timeoutMs);
        await exited;
        clearTimeout(timer);
      }
      await exited;
      // whatever the daemon forked and left running
      if (pid > 0) killGroup(pid, "SIGKILL");
    },
  };
}

export interface HttpTarget {
  url: string;
  /** Speak HTTP over this unix socket instead of TCP (for dockerd's API). */
  socketPath?: string;
  /** PEM of the CA an https:// URL must chain to. */
  ca?: Buffer;
}

/** One request; resolves with the status code, rejects if nothing answered within timeoutMs. */
export function httpStatus(target: HttpTarget, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve, reject) => {
    const options = { agent: false, socketPath: target.socketPath, timeout: timeoutMs };
    const onResponse = (res: http.IncomingMessage) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    };
    const req = target.url.startsWith("https:")
      ? https.get(target.url, { ...options, ...(target.ca ? { ca: target.ca } : {}) }, onResponse)
      : http.get(target.url, options, onResponse);
    req.on("timeout", () => req.destroy(new Error(`no answer from ${target.url} within ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

/**
 * Polls until the URL answers with any HTTP status. Fails early, with the daemon's log tail,
 * if the daemon that should serve it exits.
 */
export async function waitHttp(
  target: HttpTarget | string,
  timeoutMs: number,
  daemon?: Daemon,
): Promise<number> {
  const t = typeof target === "string" ? { url: target } : target;
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (daemon && !daemon.running()) {
      throw new Error(`${daemon.name} exited before ${t.url} answered\n${daemon.tail()}`);
    }
    try {
      return await httpStatus(t, 1000);
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(50);
  }
  throw new Error(
    `timeout after ${timeoutMs} ms waiting for ${t.url} (${last})${daemon ? `\n${daemon.tail()}` : ""}`,
  );
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  input?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    message: string,
    readonly stdout: string,
    readonly stderr: string,
    readonly code: number | null,
  ) {
    super(message);
    this.name = "CommandError";
  }
}

function clip(text: string, max = 4000): string {
  return text.length > max ? `…${text.slice(-max)}` : text;
}

/** Runs a command to completion; rejects with its output on a non-zero exit or after timeoutMs. */
export function runCommand(command: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    const pid = child.pid;
    const unregister = atExit(() => {
      if (pid) killGroup(pid, "SIGKILL");
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    child.stdin.on("error", () => {
      // the command may exit without reading its input
    });
    child.stdin.end(opts.input ?? "");
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid) killGroup(pid, "SIGKILL");
    }, timeoutMs);
    const line = [command, ...args].join(" ");
    child.once("error", (e) => {
      clearTimeout(timer);
      unregister();
      reject(new CommandError(`${line}: ${e.message}${installHint(e)}`, stdout, stderr, null));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      unregister();
      if (code === 0) {
        resolve({ stdout, stderr });
        return;
      }
      const why = timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${code ?? signal}`;
      reject(
        new CommandError(
          `${line}\n${why}\n--- stdout:\n${clip(stdout)}\n--- stderr:\n${clip(stderr)}`,
          stdout,
          stderr,
          code,
        ),
      );
    });
  });
}
