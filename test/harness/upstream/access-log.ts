import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export interface AccessLogEntry {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Query string without '?', "" when absent. */
  query: string;
  status: number;
  bytes: number;
  userAgent: string;
}

export interface RequestFilter {
  method?: string;
  pathRegex?: RegExp;
  status?: number;
  /** Only entries logged after this mark (see AccessLog.mark()). */
  since?: number;
}

const COMBINED = /^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d{3}) (\d+|-) "[^"]*" "([^"]*)"/;

export function parseCombinedLine(line: string): AccessLogEntry | undefined {
  const m = COMBINED.exec(line);
  if (!m) return undefined;
  const target = m[2] ?? "";
  const q = target.indexOf("?");
  return {
    method: m[1] ?? "",
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? "" : target.slice(q + 1),
    status: Number(m[3]),
    bytes: m[4] === "-" ? 0 : Number(m[4]),
    userAgent: m[5] ?? "",
  };
}

/**
 * Incrementally parses an Apache combined-format access log that another process appends to
 * (docker-registry writes one to stdout).
 */
export class AccessLog {
  private entries: AccessLogEntry[] = [];
  private offset = 0;
  private partial = "";
  private baseline = 0;

  constructor(private readonly file: string) {}

  private refresh(): void {
    let fd: number;
    try {
      fd = fs.openSync(this.file, "r");
    } catch {
      return;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      fs.readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const lines = (this.partial + buf.toString("utf8")).split("\n");
      this.partial = lines.pop() ?? "";
      for (const line of lines) {
        const entry = parseCombinedLine(line);
        if (entry) this.entries.push(entry);
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Entries since the mark (default: since the last clear()). */
  requests(since?: number): AccessLogEntry[] {
    this.refresh();
    return this.entries.slice(since ?? this.baseline);
  }

  count(filter: RequestFilter = {}): number {
    return this.requests(filter.since).filter(
      (e) =>
        (filter.method === undefined || e.method === filter.method) &&
        (filter.status === undefined || e.status === filter.status) &&
        (filter.pathRegex === undefined || filter.pathRegex.test(e.path)),
    ).length;
  }

  /** A position to count from later: count({ since: mark }). */
  mark(): number {
    this.refresh();
    return this.entries.length;
  }

  /** Forget what was logged so far: requests() and count() start from here. */
  clear(): void {
    this.baseline = this.mark();
  }

  /**
   * The registry logs a request after answering it, so a client can finish before its last line
   * is written: wait until nothing new was logged for quietMs.
   */
  async settle(quietMs = 300, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let seen = this.mark();
    let quietSince = Date.now();
    while (Date.now() < deadline) {
      await sleep(50);
      const now = this.mark();
      if (now !== seen) {
        seen = now;
        quietSince = Date.now();
      } else if (Date.now() - quietSince >= quietMs) {
        return;
      }
    }
  }
}
