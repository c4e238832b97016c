import type { ManifestRequest } from "./repository.js";

/**
 * The keys under which concurrent requests share one piece of upstream work. Two requests share
 * work exactly when their keys are equal, so each key holds everything that changes the answer.
 * Parts are joined with a newline, which no repository, name, tag, digest or media type contains.
 */
const keyOf = (...parts: readonly string[]): string => parts.join("\n");

/**
 * One blob download, in the store's process-wide `InFlight`: by repository and name as well as
 * digest, since the download links the blob to that repository and name (invariant 5).
 */
export function blobDownloadKey(repo: string, name: string, digest: string): string {
  return keyOf("blob", repo, name, digest);
}

/** One counted GET of a manifest by digest, within one proxy repository. */
export function manifestFetchKey(name: string, digest: string): string {
  return keyOf("manifest", name, digest);
}

/**
 * The first request for a tag never seen, within one proxy repository: a HEAD and a GET are
 * answered differently (a HEAD upstream, a GET upstream), and so are different Accept lists.
 */
export function firstTagKey(name: string, tag: string, request: ManifestRequest): string {
  return keyOf("tag", name, tag, request.method, [...request.accept].sort().join(","));
}

/** One revalidation of a known tag with a HEAD upstream, within one proxy repository. */
export function revalidationKey(name: string, tag: string, method: ManifestRequest["method"]): string {
  return keyOf("revalidate", name, tag, method);
}
