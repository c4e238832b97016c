// A PostgreSQL of the test file's own: a cluster made by initdb in a temp dir, on a free loopback
// port, trusting local connections, with durability off (fsync, full-page writes): nothing it holds
// outlives the test. initdb refuses to run as root, so as root it runs as the `postgres` user the
// Debian package creates. About a second from nothing to accepting connections.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { atExit } from "../system/exit.js";
import { onFreePort } from "../system/ports.js";
import { makeTempDir, removeTempDir } from "../system/tmp.js";

export interface PostgresServer {
  /** postgres://wharf@127.0.0.1:PORT/postgres: the superuser, on the default database. */
  readonly url: string;
  /** A URL whose connections work in `schema` (created empty): one fresh store per test, without a new database. */
  schemaUrl(schema: string): Promise<string>;
  /** Runs one statement as the superuser. */
  query(sql: string, values?: unknown[]): Promise<pg.QueryResult>;
  stop(): Promise<void>;
}

function binDir(): string {
  for (const version of ["17", "16", "15"]) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    if (fs.existsSync(path.join(dir, "initdb"))) return dir;
  }
  throw new Error("PostgreSQL is not installed: run scripts/install-test-deps.sh");
}

/** Runs a PostgreSQL tool as the user that owns the cluster. */
function runAs(tool: string, args: string[]): string {
  const command = path.join(binDir(), tool);
  const asRoot = process.getuid?.() === 0;
  return execFileSync(
    asRoot ? "runuser" : command,
    asRoot ? ["-u", "postgres", "--", command, ...args] : args,
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
}

export async function startPostgres(): Promise<PostgresServer> {
  const dir = makeTempDir("postgres");
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
    fs.chownSync(dir, uid, gid);
  }
  const data = path.join(dir, "data");
  runAs("initdb", ["-D", data, "-U", "wharf", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
  const settings = [
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=200",
  ].join(" ");
  const port = await onFreePort(async (candidate) => {
    try {
      runAs("pg_ctl", [
        "-D",
        data,
        "-l",
        path.join(dir, "server.log"),
        "-w",
        "-t",
        "30",
        "-o",
        `-p ${candidate} ${settings}`,
        "start",
      ]);
      return candidate;
    } catch (error) {
      const log = fs.readFileSync(path.join(dir, "server.log"), "utf8");
      throw new Error(`PostgreSQL did not start: ${String(error)}\n${log.split("\n").slice(-8).join("\n")}`);
    }
  });
  let stopped = false;
  const stopNow = () => {
    if (stopped) return;
    stopped = true;
    try {
      runAs("pg_ctl", ["-D", data, "-m", "immediate", "stop"]);
    } catch {
      // already gone
    }
  };
  const unregister = atExit(stopNow);
  const url = `postgres://wharf@127.0.0.1:${port}/postgres`;
  const admin = new pg.Pool({ connectionString: url, max: 2 });
  return {
    url,
    async schemaUrl(schema) {
      // search_path folds unquoted names to lower case: only names that need no quotes.
      if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`schema name ${schema}: use a-z, 0-9 and _`);
      await admin.query(`CREATE SCHEMA ${schema}`);
      return `${url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    },
    query: (sql, values) => admin.query(sql, values),
    async stop() {
      await admin.end();
      unregister();
      stopNow();
      await removeTempDir(dir);
    },
  };
}
