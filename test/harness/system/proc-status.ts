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

/**
 * CPU time a process used so far, user and system, in milliseconds (10 ms resolution), threads
 * that ended included: /proc/<pid>/stat (Linux).
 */
export function processCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // The name in parentheses may hold spaces: fields are counted from after it (state is field 3).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`/proc/${pid}/stat has no utime and stime`);
  return (ticks * 1000) / TICKS_PER_SECOND;
}
