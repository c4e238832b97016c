import type { AccessLogEntry } from "../test/harness/upstream/access-log.js";
import type { Upstream } from "../test/harness/upstream/docker-registry.js";
import type { UpstreamCounts } from "./results.js";

const BLOB = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/;
const MANIFEST = /^\/v2\/.+\/manifests\/[^/]+$/;

/**
 * How long the upstream's access log must stay quiet before a step counts as over. docker-registry
 * in proxy mode fetches blobs a second time in the background and logs each request only when it
 * has finished, so a shorter wait would miss requests still running after the client is done.
 */
const QUIET_MS = 750;

export interface CountMark {
  log: number;
  tokens: number;
}

export interface Counted {
  counts: UpstreamCounts;
  /** Blob GETs answered < 400 (the downloads; a 401 challenge moves no bytes), per digest. */
  downloads: Map<string, number>;
}

export function markUpstream(upstream: Upstream): CountMark {
  return { log: upstream.mark(), tokens: upstream.tokenServer?.stats().requests ?? 0 };
}

function tally(entries: AccessLogEntry[], tokens: number): Counted {
  const counts: UpstreamCounts = {
    blobGet: 0,
    blobHead: 0,
    manifestGet: 0,
    manifestHead: 0,
    tokens,
    unauthorized: 0,
    other: 0,
  };
  const downloads = new Map<string, number>();
  for (const e of entries) {
    if (e.status === 401) counts.unauthorized++;
    const blob = BLOB.exec(e.path);
    if (blob && e.method === "GET") {
      counts.blobGet++;
      const digest = blob[1] ?? "";
      if (e.status < 400) downloads.set(digest, (downloads.get(digest) ?? 0) + 1);
    } else if (blob && e.method === "HEAD") counts.blobHead++;
    else if (MANIFEST.test(e.path) && e.method === "GET") counts.manifestGet++;
    else if (MANIFEST.test(e.path) && e.method === "HEAD") counts.manifestHead++;
    else counts.other++;
  }
  return { counts, downloads };
}

export function settleUpstream(upstream: Upstream): Promise<void> {
  return upstream.settle(QUIET_MS, 30_000);
}

/** What the upstream was asked since the mark, once its log has gone quiet. */
export async function countSince(upstream: Upstream, mark: CountMark): Promise<Counted> {
  await settleUpstream(upstream);
  const tokens = (upstream.tokenServer?.stats().requests ?? 0) - mark.tokens;
  return tally(upstream.requests(mark.log), tokens);
}

/** blob GET/HEAD, manifest GET/HEAD, tokens: the lab's order, so the figures compare at a glance. */
export function formatCounts(c: UpstreamCounts): string {
  return `${c.blobGet}/${c.blobHead}/${c.manifestGet}/${c.manifestHead}/${c.tokens}`;
}
