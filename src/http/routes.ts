/**
 * The distribution API's URL space, parsed without decoding: nothing in a valid name,
 * reference, digest or upload id needs percent-encoding, so an encoded path is refused rather
 * than decoded into something that could traverse (`%2e%2e`, `%2f`).
 */
export type Route =
  | { readonly kind: "base" }
  | { readonly kind: "catalog" }
  | { readonly kind: "manifest"; readonly name: string; readonly reference: string }
  | { readonly kind: "blob"; readonly name: string; readonly digest: string }
  | { readonly kind: "uploads"; readonly name: string }
  | { readonly kind: "upload"; readonly name: string; readonly id: string }
  | { readonly kind: "tags"; readonly name: string }
  | { readonly kind: "referrers"; readonly name: string; readonly digest: string };

export type RouteKind = Route["kind"];

/** Methods each route answers; anything else is 405 UNSUPPORTED. */
export const ROUTE_METHODS: Readonly<Record<RouteKind, readonly string[]>> = Object.freeze({
  base: ["GET", "HEAD"],
  catalog: ["GET"],
  manifest: ["GET", "HEAD", "PUT", "DELETE"],
  blob: ["GET", "HEAD", "DELETE"],
  uploads: ["POST"],
  upload: ["GET", "PATCH", "PUT", "DELETE"],
  tags: ["GET"],
  referrers: ["GET"],
});

const PATTERNS: ReadonlyArray<readonly [RegExp, (match: RegExpExecArray) => Route]> = [
  [
    /^(.+)\/manifests\/([^/]+)$/,
    (m) => ({ kind: "manifest", name: m[1] as string, reference: m[2] as string }),
  ],
  [/^(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: "uploads", name: m[1] as string })],
  [/^(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: "upload", name: m[1] as string, id: m[2] as string })],
  [/^(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: "blob", name: m[1] as string, digest: m[2] as string })],
  [/^(.+)\/tags\/list$/, (m) => ({ kind: "tags", name: m[1] as string })],
  [
    /^(.+)\/referrers\/([^/]+)$/,
    (m) => ({ kind: "referrers", name: m[1] as string, digest: m[2] as string }),
  ],
];

export type ParsedPath =
  | { readonly kind: "registry"; readonly route: Route }
  /** Under /v2/ but not an API endpoint, or encoded. */
  | { readonly kind: "invalid"; readonly reason: string }
  | { readonly kind: "other" };

/** Splits a request target into its path and query, the path left exactly as sent. */
export function splitTarget(target: string): { path: string; query: URLSearchParams } {
  const mark = target.indexOf("?");
  if (mark < 0) return { path: target, query: new URLSearchParams() };
  return { path: target.slice(0, mark), query: new URLSearchParams(target.slice(mark + 1)) };
}

export function parsePath(path: string): ParsedPath {
  if (path === "/v2" || path === "/v2/") return { kind: "registry", route: { kind: "base" } };
  if (!path.startsWith("/v2/")) return { kind: "other" };
  if (path.includes("%"))
    return { kind: "invalid", reason: "percent-encoded characters are not allowed in registry paths" };
  const rest = path.slice(4);
  if (rest === "_catalog") return { kind: "registry", route: { kind: "catalog" } };
  for (const [pattern, build] of PATTERNS) {
    const match = pattern.exec(rest);
    if (match) return { kind: "registry", route: build(match) };
  }
  return { kind: "invalid", reason: "not a registry API path" };
}
