import type { CacheStatus } from "./repository.js";

/**
 * What repositories tell the operator's side as they serve: usage for eviction (the recorder
 * batches it), bytes fetched for the metrics, and failures to keep content (a full disk starts an
 * eviction). Reported by the repository that holds the content, never a group in front of it.
 * Calls must return at once: they run on the request path.
 */
export interface ContentObserver {
  /**
   * A manifest was served. `tag`: asked for by that tag. `counted`: a client's GET; a HEAD only
   * marks the use. `cache`: a miss is content new here (fetched from upstream).
   */
  manifestServed(
    repo: string,
    name: string,
    digest: string,
    how: { tag?: string; counted: boolean; cache: CacheStatus },
  ): void;
  /** A blob's bytes were handed out. */
  blobServed(repo: string, name: string, digest: string): void;
  /** Bytes a proxy received from its upstream, kept or not. */
  fetched(repo: string, kind: "manifest" | "blob", bytes: number): void;
  /** Fetched content could not be kept (a full disk, a read-only database); it was served anyway. */
  cacheFailed(repo: string, error: unknown): void;
}

/** For repositories built without one (tests, tools). */
export const UNOBSERVED: ContentObserver = {
  manifestServed: () => {},
  blobServed: () => {},
  fetched: () => {},
  cacheFailed: () => {},
};
