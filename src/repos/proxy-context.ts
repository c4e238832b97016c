import type { Logger } from "pino";
import { UpstreamError } from "../upstream/errors.js";
import type { UpstreamRegistry } from "../upstream/registry.js";
import type { Clock } from "../util/clock.js";
import { type Missing, NotFoundError } from "../util/errors.js";
import type { ContentStores, LocalContent } from "./local-content.js";
import type { ContentObserver } from "./observer.js";

/** What every part of one proxy repository works with (`proxy.ts` builds it once). */
export interface ProxyContext {
  /** The repository's name: what content is linked under in metadata. */
  readonly repo: string;
  readonly upstream: UpstreamRegistry;
  readonly stores: ContentStores;
  /** What this repository holds itself. */
  readonly local: LocalContent;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly observer: ContentObserver;
}

/**
 * Records fetched content in the cache. A failure here (full disk, read-only database) must not
 * fail the client's request: the content was fetched and verified, it is just not kept.
 */
export async function remember(
  context: ProxyContext,
  what: string,
  facts: Record<string, string>,
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (error) {
    context.logger.error(
      { err: error, repo: context.repo, ...facts },
      `cannot cache ${what}; serving it uncached`,
    );
    context.observer.cacheFailed(context.repo, error);
  }
}

/** Whether the upstream said it has no such thing (an answer, unlike an outage). */
export function isUpstreamNotFound(error: unknown): error is UpstreamError {
  return error instanceof UpstreamError && error.kind === "not-found";
}

/**
 * An upstream failure as the proxy reports it when nothing cached can stand in. "Not found" and
 * "refused" (wharf's credentials, or a repository private there) mean, for the client, that the
 * content is not available here: a NotFoundError of `what`, so a group asks its next member.
 * Everything else (rate-limited, unavailable, an unusable answer, a bug) passes unchanged, for
 * the HTTP edge to map.
 */
export function absentUpstream(error: unknown, what: Missing): unknown {
  if (!(error instanceof UpstreamError)) return error;
  if (error.kind !== "not-found" && error.kind !== "unauthorized") return error;
  const detail = { upstream: error.upstream, reason: error.message };
  return new NotFoundError(what, detail, {
    cause: error,
    ...(error.kind === "unauthorized" ? { message: "upstream refused access" } : {}),
  });
}
