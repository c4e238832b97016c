import { processCpuMs } from "../test/harness/system/proc-status.js";
import type { CpuSpent } from "./results.js";

/** CPU milliseconds of a process so far, when it runs. */
function cpuOf(pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : processCpuMs(pid);
}

/**
 * Starts counting the CPU a pull costs the serving proxy and the upstream. The returned function
 * ends the count (call it once the upstream went quiet, so fetching ahead is included) and adds
 * the clients' own, which only their parent can read.
 */
export function cpuMeter(serverPid: number | undefined, upstreamPid: number | undefined) {
  const before = { server: cpuOf(serverPid), upstream: cpuOf(upstreamPid) };
  const spent = (pid: number | undefined, start: number | undefined): number | null => {
    const now = cpuOf(pid);
    return start === undefined || now === undefined ? null : now - start;
  };
  return (clientMs: number): CpuSpent => ({
    client: clientMs,
    server: spent(serverPid, before.server),
    upstream: spent(upstreamPid, before.upstream),
  });
}
