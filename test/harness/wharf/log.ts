import type { Wharf } from "./start.js";

// What wharf's access-log lines (msg "request", one per request) say about routing: which
// repository answered, and the `ns` a containerd client sent. A client that fell back to another
// host leaves no line here, so these prove a pull went through wharf.

export interface RoutedRequest {
  method: string;
  path: string;
  status: number;
  /** The `?ns=` parameter, "" when absent. */
  ns: string;
}

/** Every request wharf routed to `repo`, in order. */
export function requestsTo(wharf: Wharf, repo: string): RoutedRequest[] {
  return wharf
    .logLines()
    .filter((l) => l.msg === "request" && l.repo === repo)
    .map((l) => {
      const target = new URL(String(l.path), "http://wharf.invalid");
      return {
        method: String(l.method),
        path: target.pathname,
        status: Number(l.status),
        ns: target.searchParams.get("ns") ?? "",
      };
    });
}
