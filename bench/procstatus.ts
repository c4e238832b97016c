import fs from "node:fs";

export interface ProcMemory {
  /** Peak resident set since the process started (VmHWM). */
  hwmMB: number;
  /** Resident set now (VmRSS). */
  rssMB: number;
}

function field(status: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status);
  if (!m) throw new Error(`no ${name} in /proc status`);
  // the kernel's kB are KiB; MB (1e6 bytes) like every other figure of the run
  return Math.round((Number(m[1]) * 1024) / 1e5) / 10;
}

/** /proc/<pid>/status memory figures, in MB. */
export function procMemory(pid: number): ProcMemory {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return { hwmMB: field(status, "VmHWM"), rssMB: field(status, "VmRSS") };
}
