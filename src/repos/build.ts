import type { Logger } from "pino";
import type { Dispatcher } from "undici";
import { defaultRepositoryOf } from "../config/derived.js";
import type { Config, ProxyRepositoryConfig, RepositoryConfig } from "../config/schema.js";
import type { RateLimitSnapshot } from "../coordination/upstream-state.js";
import { DOCKER_HUB_HOSTS } from "../oci/docker-hub.js";
import type { Stores } from "../store/open-stores.js";
import { UpstreamClient, type UpstreamEvents, type UpstreamExchange } from "../upstream/client.js";
import { VERSION } from "../version.js";
import type { AheadRoom } from "./fetch-ahead.js";
import { GroupRepository } from "./group.js";
import { HostedRepository } from "./hosted.js";
import type { ContentObserver } from "./observer.js";
import { ProxyRepository } from "./proxy.js";
import type { Repository } from "./repository.js";
import { RepositoryRouter } from "./router.js";

/** Where each proxy's upstream traffic and pull budget are reported (metrics). */
export interface UpstreamObserver {
  exchange(repo: string, exchange: UpstreamExchange): void;
  rateLimit(repo: string, snapshot: RateLimitSnapshot): void;
}

export interface BuildContext {
  readonly stores: Stores;
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
  readonly upstreams: UpstreamObserver;
  /** Told what repositories serve, fetch and fail to keep (usage, metrics, eviction). */
  readonly observer?: ContentObserver;
  /** Whether a blob fetched ahead fits without an eviction (the cache keeper knows). */
  readonly aheadRoom?: AheadRoom;
  /** Handed what must stop when wharf stops: proxies' fetching ahead. */
  readonly onStop?: (stop: () => void) => void;
  /** Handed what to do once wharf serves: proxies' first look at their upstream. */
  readonly onStart?: (start: () => void) => void;
}

function isDockerHub(url: string): boolean {
  return DOCKER_HUB_HOSTS.includes(new URL(url).hostname);
}

/** Operator-facing news about an upstream: one log line per change, and the budget as a metric. */
function upstreamEvents(repo: string, url: string, { logger, upstreams }: BuildContext): UpstreamEvents {
  return {
    response: (exchange) => upstreams.exchange(repo, exchange),
    rateLimit(snapshot) {
      upstreams.rateLimit(repo, snapshot);
      logger.info({ repo, upstream: url, ...snapshot }, "upstream pull budget");
    },
    unavailable(reason) {
      logger.error({ repo, upstream: url, reason }, "upstream unavailable; serving what is cached");
    },
    refused(reason) {
      logger.warn(
        { repo, upstream: url, reason },
        "upstream refused wharf's credentials; check the repository's username and password",
      );
    },
    recovered() {
      logger.info({ repo, upstream: url }, "upstream available again");
    },
    backingOff(seconds, reason) {
      logger.warn({ repo, upstream: url, seconds, reason }, "upstream rate limit reached; backing off");
    },
  };
}

function createProxy(name: string, config: ProxyRepositoryConfig, context: BuildContext): ProxyRepository {
  const { upstream } = config;
  const { stores } = context;
  const client = new UpstreamClient({
    name,
    url: upstream.url,
    ...(upstream.username !== undefined
      ? { credentials: { username: upstream.username, password: upstream.password ?? "" } }
      : {}),
    timeouts: { headersMs: upstream.timeouts.headers, bodyMs: upstream.timeouts.body_idle },
    dispatcher: context.dispatcher,
    userAgent: `wharf/${VERSION}`,
    events: upstreamEvents(name, upstream.url, context),
    state: stores.coordination.upstreamState(name),
    tokens: stores.coordination.tokenCache(name),
  });
  const ahead = config.fetch_ahead;
  const proxy = new ProxyRepository({
    name,
    upstream: client,
    libraryPrefix: upstream.library_prefix ?? isDockerHub(upstream.url),
    tagTtlMs: config.tag_ttl,
    meta: stores.meta,
    blobs: stores.blobs,
    documents: stores.documents,
    coalescer: stores.coalescer,
    ingests: stores.ingests,
    logger: context.logger,
    ...(context.observer ? { observer: context.observer } : {}),
    ...(ahead.enabled ? { fetchAhead: { concurrency: ahead.concurrency, idleMs: ahead.idle_timeout } } : {}),
    ...(context.aheadRoom ? { aheadRoom: context.aheadRoom } : {}),
  });
  context.onStop?.(() => proxy.stopFetchingAhead());
  context.onStart?.(() => void client.probe());
  return proxy;
}

/**
 * Builds every configured repository. Groups are built after their members; the configuration
 * check has already refused unknown members and cycles.
 */
export function buildRepositories(config: Config, context: BuildContext): Map<string, Repository> {
  const built = new Map<string, Repository>();
  const build = (name: string, repository: RepositoryConfig): Repository => {
    const existing = built.get(name);
    if (existing) return existing;
    let created: Repository;
    switch (repository.type) {
      case "proxy":
        created = createProxy(name, repository, context);
        break;
      case "hosted":
        created = new HostedRepository({
          name,
          allowDelete: repository.allow_delete,
          ...context.stores,
          ...(context.observer ? { observer: context.observer } : {}),
        });
        break;
      case "group": {
        const members = repository.members.map((member) =>
          build(member, config.repositories[member] as RepositoryConfig),
        );
        // By default the first hosted member takes the group's pushes.
        const pushTo =
          repository.push_to ??
          repository.members.find((member) => config.repositories[member]?.type === "hosted");
        created = new GroupRepository(name, members, pushTo === undefined ? undefined : built.get(pushTo));
        break;
      }
    }
    built.set(name, created);
    return created;
  };
  for (const [name, repository] of Object.entries(config.repositories)) build(name, repository);
  // Keep the file's order: it is the order listings and status show.
  return new Map(Object.keys(config.repositories).map((name) => [name, built.get(name) as Repository]));
}

/** Registry hosts clients may name in `?ns=`, by repository (only proxies have any). */
function registryHosts(repositories: ReadonlyMap<string, Repository>): Map<string, readonly string[]> {
  return new Map([...repositories].map(([name, repository]) => [name, repository.registryHosts]));
}

export function buildRouter(config: Config, context: BuildContext): RepositoryRouter {
  const repositories = buildRepositories(config, context);
  return new RepositoryRouter(repositories, registryHosts(repositories), defaultRepositoryOf(config));
}
