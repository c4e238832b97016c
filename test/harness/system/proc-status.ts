import fs from "node:fs";

export interface ProcessMemory {
  /** Resident set size now, bytes. */
  rss: number;
  /** Peak resident set size since the process started (VmHWM), bytes. */
  peak: number;
}

/** Reads /proc/<pid>/status (Linux): how much memory a process holds and held at most. */
export function processMemory(pid: number): ProcessMemory {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
    if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]) * 1024;
  };
  return { rss: kib("VmRSS"), peak: kib("VmHWM") };
}

/** Linux reports CPU time in USER_HZ ticks, which its ABI fixes at 100 per second. */
const TICKS_PER_SECOND = 100;

/** The fields of /proc/<pid>/stat after the name, which may hold spaces: [0] is field 3 (state). */
function statFields(pid: number | "self"): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

function ticksToMs(fields: string[], first: number, what: string, pid: number | "self"): number {
  const ticks = Number(fields[first]) + Number(fields[first + 1]);
  if (!Number.isFinite(ticks)) throw new Error(`/proc/${pid}/stat has no ${what}`);
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/**
 * CPU time a process used so far, user and system, in milliseconds (10 ms resolution), threads
 * that ended included: /proc/<pid>/stat (Linux).
 */
export function processCpuMs(pid: number): number {
  return ticksToMs(statFields(pid), 11, "utime and stime", pid);
}

/**
 * CPU time, in milliseconds, of this process's children that exited and were waited for (and of
 * theirs): what short-lived clients such as skopeo cost, read as the difference around their run.
 */
export function reapedChildrenCpuMs(): number {
  return ticksToMs(statFields("self"), 13, "cutime and cstime", "self");
}
