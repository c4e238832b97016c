import { useEffect, useState } from "preact/hooks";

/**
 * The dashboard's pages live in the URL's fragment (`#/r/docker-hub?q=alpine`): wharf serves one
 * file at `/`, so a page can be bookmarked and reloaded without the server knowing its routes.
 */
export type Route =
  | { readonly page: "overview" }
  | { readonly page: "repository"; readonly repository: string; readonly params: URLSearchParams }
  | { readonly page: "image"; readonly repository: string; readonly name: string; readonly reference: string }
  | { readonly page: "accounts" }
  | { readonly page: "not-found"; readonly path: string };

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, "") || "/";
  const mark = raw.indexOf("?");
  const path = mark < 0 ? raw : raw.slice(0, mark);
  const params = new URLSearchParams(mark < 0 ? "" : raw.slice(mark + 1));
  const parts = path
    .split("/")
    .filter((part) => part !== "")
    .map(decodeURIComponent);
  if (parts.length === 0) return { page: "overview" };
  if (parts[0] === "accounts" && parts.length === 1) return { page: "accounts" };
  if (parts[0] === "r" && parts.length === 2)
    return { page: "repository", repository: parts[1] as string, params };
  if (parts[0] === "r" && parts.length === 5 && parts[2] === "i") {
    return {
      page: "image",
      repository: parts[1] as string,
      name: parts[3] as string,
      reference: parts[4] as string,
    };
  }
  return { page: "not-found", path };
}

export const href = {
  overview: () => "#/",
  accounts: () => "#/accounts",
  repository: (repository: string, params?: Record<string, string>) => {
    const search = new URLSearchParams(params ?? {}).toString();
    return `#/r/${encodeURIComponent(repository)}${search === "" ? "" : `?${search}`}`;
  },
  image: (repository: string, name: string, reference: string) =>
    `#/r/${encodeURIComponent(repository)}/i/${encodeURIComponent(name)}/${encodeURIComponent(reference)}`,
};

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

/** Changes the query of the current page without a new history entry per keystroke. */
export function replaceParams(params: URLSearchParams): void {
  const raw = location.hash.replace(/^#/, "");
  const path = raw.split("?")[0] ?? "/";
  const search = params.toString();
  history.replaceState(null, "", `#${path}${search === "" ? "" : `?${search}`}`);
  dispatchEvent(new HashChangeEvent("hashchange"));
}
