import { mkdir } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import type { Logger } from "pino";
import { Agent } from "undici";
import type { Config, ProxyRepositoryConfig } from "./config/schema.js";
import type { ListenerInfo } from "./http/context.js";
import { RegistryApi } from "./http/registry-api.js";
import {
  createHttpServer,
  createRequestHandler,
  type RequestObserver,
  type SideRoutes,
} from "./http/server.js";
import { statusRoutes } from "./http/status.js";
import type { MetadataStore } from "./meta/metadata-store.js";
import { SqliteMetadataStore } from "./meta/sqlite-metadata-store.js";
import { Metrics } from "./ops/metrics.js";
import { ProxyRepository } from "./repos/proxy.js";
import type { Repository } from "./repos/repository.js";
import { DOCKER_HUB_HOSTS, RepositoryRouter } from "./repos/router.js";
import { Coalescer } from "./store/coalescer.js";
import { FsBlobStore } from "./store/fs-blob-store.js";
import { SmallContent } from "./store/small-content.js";
import { Spool } from "./store/spool.js";
import { UpstreamClient } from "./upstream/client.js";
import { VERSION } from "./version.js";

export interface Listening {
  readonly address: string;
  readonly port: number;
  readonly repository?: string;
}

export interface Wharf {
  readonly listening: readonly Listening[];
  readonly router: RepositoryRouter;
  close(): Promise<void>;
}

interface Stores {
  readonly spool: Spool;
  readonly blobs: FsBlobStore;
  readonly meta: MetadataStore;
  readonly documents: SmallContent;
  readonly coalescer: Coalescer;
}

function isDockerHub(url: string): boolean {
  return DOCKER_HUB_HOSTS.includes(new URL(url).hostname);
}

/** Opens the data directory: blobs, metadata, and a spool emptied of any earlier run's debris. */
async function openStores(dataDir: string, logger: Logger): Promise<Stores> {
  await mkdir(dataDir, { recursive: true });
  const spool = new Spool(join(dataDir, "tmp"));
  await spool.init();
  const debris = await spool.clean();
  if (debris > 0) logger.info({ files: debris }, "removed leftovers of interrupted writes");
  const blobs = new FsBlobStore(join(dataDir, "blobs"));
  const meta = new SqliteMetadataStore(join(dataDir, "wharf.db"));
  return {
    spool,
    blobs,
    meta,
    documents: new SmallContent(blobs, spool),
    coalescer: new Coalescer(spool, blobs),
  };
}

function createProxy(
  name: string,
  config: ProxyRepositoryConfig,
  stores: Stores,
  dispatcher: Agent,
  logger: Logger,
  metrics: Metrics,
): ProxyRepository {
  const { upstream } = config;
  const upstreamClient = new UpstreamClient({
    name,
    url: upstream.url,
    ...(upstream.username !== undefined
      ? { credentials: { username: upstream.username, password: upstream.password ?? "" } }
      : {}),
    timeouts: { headersMs: upstream.timeouts.headers, bodyMs: upstream.timeouts.body_idle },
    dispatcher,
    userAgent: `wharf/${VERSION}`,
    events: {
      rateLimit(state) {
        const snapshot = state.snapshot();
        if (snapshot.remaining !== undefined) metrics.upstreamBudget.set({ repo: name }, snapshot.remaining);
        logger.info({ repo: name, upstream: upstream.url, ...snapshot }, "upstream pull budget");
      },
      unavailable(reason) {
        logger.error(
          { repo: name, upstream: upstream.url, reason },
          "upstream unavailable; serving what is cached",
        );
      },
      refused(reason) {
        logger.warn(
          { repo: name, upstream: upstream.url, reason },
          "upstream refused wharf's credentials; check the repository's username and password",
        );
      },
      recovered() {
        logger.info({ repo: name, upstream: upstream.url }, "upstream available again");
      },
      backingOff(seconds, reason) {
        logger.warn(
          { repo: name, upstream: upstream.url, seconds, reason },
          "upstream rate limit reached; backing off",
        );
      },
    },
  });
  return new ProxyRepository({
    name,
    upstream: upstreamClient,
    libraryPrefix: upstream.library_prefix ?? isDockerHub(upstream.url),
    tagTtlMs: config.tag_ttl,
    meta: stores.meta,
    blobs: stores.blobs,
    documents: stores.documents,
    coalescer: stores.coalescer,
    logger,
  });
}

/** Registry hosts clients may name in `?ns=` for each proxy: its upstream, plus Docker Hub's aliases. */
function registryHosts(repositories: ReadonlyMap<string, Repository>): Map<string, string[]> {
  const hosts = new Map<string, string[]>();
  for (const [name, repository] of repositories) {
    if (!(repository instanceof ProxyRepository)) continue;
    // A library-prefixed upstream stands for Docker Hub, which containerd names `ns=docker.io`.
    const own = [repository.upstream.host];
    hosts.set(name, repository.libraryPrefix ? [...own, ...DOCKER_HUB_HOSTS] : own);
  }
  return hosts;
}

function chooseDefault(config: Config): string | undefined {
  if (config.default_repository !== undefined) return config.default_repository;
  const names = Object.keys(config.repositories);
  return names.length === 1 ? names[0] : undefined;
}

/** `:5000`, `5000`, `127.0.0.1:5000`, `[::1]:5000` → host (undefined = every interface) and port. */
export function parseListen(value: string): { host: string | undefined; port: number } {
  const match = /^(?:(\[[^\]]+\]|[^:]*):)?(\d+)$/.exec(value);
  if (!match) throw new Error(`cannot listen on "${value}"`);
  const host = match[1]?.replace(/^\[|\]$/g, "");
  return { host: host === "" ? undefined : host, port: Number(match[2]) };
}

async function listen(server: Server, host: string | undefined, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolveListen();
    });
  });
  return server.address() as AddressInfo;
}

/** Builds wharf from a validated configuration and starts its listeners. */
export async function startWharf(config: Config, logger: Logger): Promise<Wharf> {
  const dataDir = resolve(config.data_dir);
  const stores = await openStores(dataDir, logger);
  const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000, connect: { timeout: 10_000 } });
  const metrics = new Metrics(() => stores.coalescer.inflight);

  const repositories = new Map<string, Repository>();
  for (const [name, repository] of Object.entries(config.repositories)) {
    if (repository.type !== "proxy") {
      throw new Error(`repository ${name}: type "${repository.type}" is not available in this version`);
    }
    repositories.set(name, createProxy(name, repository, stores, dispatcher, logger, metrics));
  }
  const router = new RepositoryRouter(repositories, registryHosts(repositories), chooseDefault(config));
  const api = new RegistryApi(router);
  const sideRoutes: SideRoutes = statusRoutes({ router, metrics, startedAt: Date.now() });
  const observe: RequestObserver = (ctx, status, seconds) => {
    const route = ctx.route ?? "other";
    metrics.requests.inc({
      route,
      method: ctx.method,
      status: String(status),
      repo: ctx.repository ?? "",
      cache: ctx.cache ?? "",
    });
    metrics.requestSeconds.observe({ route, method: ctx.method }, seconds);
  };

  const timeouts = { headersMs: 30_000, keepAliveMs: 65_000 };
  const servers: Server[] = [];
  const listening: Listening[] = [];
  const bind = async (address: string, info: ListenerInfo) => {
    const server = createHttpServer(
      createRequestHandler({ api, sideRoutes, logger, listener: info, observe }),
      timeouts,
    );
    const { host, port } = parseListen(address);
    const bound = await listen(server, host, port);
    servers.push(server);
    listening.push({ address: bound.address, port: bound.port, ...info });
    logger.info({ address: bound.address, port: bound.port, ...info }, "listening");
  };
  await bind(config.listen, {});
  for (const [name, repository] of Object.entries(config.repositories)) {
    if (repository.port !== undefined) {
      const host = parseListen(config.listen).host;
      await bind(host === undefined ? String(repository.port) : `${host}:${repository.port}`, {
        boundRepository: name,
      });
    }
  }
  logger.info({ version: VERSION, dataDir, repositories: [...repositories.keys()] }, "wharf started");

  return {
    listening,
    router,
    async close() {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((done) => {
              server.close(() => done());
              server.closeAllConnections();
            }),
        ),
      );
      await dispatcher.close();
      await stores.meta.close();
    },
  };
}
