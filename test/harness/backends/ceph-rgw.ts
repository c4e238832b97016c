// One Ceph RGW (S3 API) for the whole test run: scripts/ceph-rgw.sh bootstraps it in a fixed
// directory on first use (~25 s; ~6 s to restart one bootstrapped before) and every later caller,
// in this process or another test file's, finds it running. A process that started it stops it at
// exit, unless the run owns it (WHARF_TEST_CEPH_SHARED=1, set by scripts/test.sh, which stops it
// once every file ran). Tests keep apart by key prefix (`s3Prefix()`), not by bucket.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { atExit } from "../system/exit.js";

/** This file is dist/test/harness/backends/ceph-rgw.js; the script is scripts/ceph-rgw.sh. */
const SCRIPT = fileURLToPath(new URL("../../../../scripts/ceph-rgw.sh", import.meta.url));

/** Where the cluster lives across test files; WHARF_TEST_CEPH_DIR moves it. */
export const CEPH_DIR = process.env.WHARF_TEST_CEPH_DIR ?? "/tmp/wharf-test-ceph";

export interface S3Env {
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly bucket: string;
  readonly region: string;
}

const DAEMONS = ["mon.a", "osd.0", "rgw"];

function running(): boolean {
  return DAEMONS.every((daemon) => {
    try {
      process.kill(Number(fs.readFileSync(path.join(CEPH_DIR, "run", `${daemon}.pid`), "utf8")), 0);
      return true;
    } catch {
      return false;
    }
  });
}

let started: S3Env | undefined;

/** The run's RGW, started if nobody did yet. Synchronous: the script does the waiting. */
export function cephRgw(): S3Env {
  if (started) return started;
  const wasRunning = running();
  const output = execFileSync(SCRIPT, ["start", CEPH_DIR], {
    encoding: "utf8",
    // Ports are chosen at bootstrap only, away from the defaults a hand-started cluster takes.
    env: { ...process.env, CEPH_MON_PORT: "13300", RGW_PORT: "17480" },
    stdio: ["ignore", "pipe", "inherit"],
    timeout: 300_000,
  });
  const lines = new Map(
    output
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => line.split("=", 2) as [string, string]),
  );
  const value = (key: string) => {
    const found = lines.get(key);
    if (!found) throw new Error(`scripts/ceph-rgw.sh printed no ${key}`);
    return found;
  };
  started = {
    endpoint: value("S3_ENDPOINT"),
    accessKey: value("S3_ACCESS_KEY"),
    secretKey: value("S3_SECRET_KEY"),
    bucket: value("S3_BUCKET"),
    region: value("S3_REGION"),
  };
  if (!wasRunning && process.env.WHARF_TEST_CEPH_SHARED !== "1") {
    atExit(() => execFileSync(SCRIPT, ["stop", CEPH_DIR], { stdio: "ignore", timeout: 60_000 }));
  }
  return started;
}

let prefixes = 0;

/** A key prefix no other test (of any file or run) uses: each test starts with an empty store. */
export function s3Prefix(label: string): string {
  prefixes += 1;
  return `${label}-${process.pid}-${Date.now().toString(36)}-${prefixes}/`;
}
