import { NotFoundError } from "../util/errors.js";
import type { Repository } from "./repository.js";

/** Where a request was received and what it named. */
export interface RouteQuery {
  /** The repository the listener is bound to (a Nexus-style connector port), if any. */
  readonly boundRepository?: string;
  /** The image name from the URL, possibly starting with a repository name (`docker-hub/library/x`). */
  readonly name: string;
  /** containerd's `?ns=<registry host>` parameter. */
  readonly ns?: string;
}

export interface Routed {
  readonly repository: Repository;
  /** The image name inside the repository. */
  readonly name: string;
  /** Set when `ns` chose the repository: echoed as `OCI-Namespace`. */
  readonly namespace?: string;
}

/** Whether `target` is `from` or one of its members, through nested groups. */
function reaches(from: Repository, target: Repository): boolean {
  return from === target || from.members.some((member) => reaches(member, target));
}

/**
 * Finds the repository for a request, trying in order: the `ns` parameter (the proxy whose
 * upstream is that registry, among those the listener's repository reaches); the listener's
 * own repository; a path prefix naming a repository; the default repository. `ns` naming a registry wharf does not proxy is a 404,
 * so containerd moves on to its next host instead of getting another registry's image.
 */
export class RepositoryRouter {
  readonly #repositories: ReadonlyMap<string, Repository>;
  readonly #byRegistryHost: ReadonlyMap<string, string>;
  readonly #defaultRepository: string | undefined;

  constructor(
    repositories: ReadonlyMap<string, Repository>,
    registryHosts: ReadonlyMap<string, readonly string[]>,
    defaultRepository: string | undefined,
  ) {
    this.#repositories = repositories;
    this.#defaultRepository = defaultRepository;
    const byHost = new Map<string, string>();
    for (const [repository, hosts] of registryHosts) {
      for (const host of hosts) {
        const key = host.toLowerCase();
        if (!byHost.has(key)) byHost.set(key, repository);
      }
    }
    this.#byRegistryHost = byHost;
  }

  get repositories(): ReadonlyMap<string, Repository> {
    return this.#repositories;
  }

  get defaultRepository(): Repository | undefined {
    return this.#defaultRepository === undefined
      ? undefined
      : this.#repositories.get(this.#defaultRepository);
  }

  repository(name: string): Repository | undefined {
    return this.#repositories.get(name);
  }

  resolve(query: RouteQuery): Routed {
    const ns = query.ns === "" ? undefined : query.ns;
    const bound = query.boundRepository === undefined ? undefined : this.#get(query.boundRepository);
    if (ns !== undefined) {
      const proxy = this.#byRegistryHost.get(ns.toLowerCase());
      // On a bound port only the proxies that repository reaches count: a containerd pointed at
      // the wrong port must fall back, not get another registry's image under the same name.
      if (proxy === undefined || (bound && !reaches(bound, this.#get(proxy)))) {
        throw new NotFoundError("repository", { ns }, { message: `no repository here proxies ${ns}` });
      }
      return { repository: this.#get(proxy), name: query.name, namespace: ns };
    }
    if (bound) return { repository: bound, name: query.name };
    const slash = query.name.indexOf("/");
    if (slash > 0) {
      const prefixed = this.#repositories.get(query.name.slice(0, slash));
      if (prefixed) return { repository: prefixed, name: query.name.slice(slash + 1) };
    }
    const fallback = this.defaultRepository;
    if (!fallback) {
      throw new NotFoundError(
        "repository",
        { name: query.name },
        { message: "name must start with a repository name (no default repository is configured)" },
      );
    }
    return { repository: fallback, name: query.name };
  }

  #get(name: string): Repository {
    const repository = this.#repositories.get(name);
    if (!repository) throw new NotFoundError("repository", { repository: name });
    return repository;
  }
}
