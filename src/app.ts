import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import type { Logger } from "pino";
import { Agent } from "undici";
import { openAuth } from "./auth/setup.js";
import type { Config } from "./config/schema.js";
import { OPEN_ACCESS } from "./http/access.js";
import { tokenAccess, tokenRoute } from "./http/auth-wiring.js";
import type { ListenerInfo } from "./http/context.js";
import { RegistryApi } from "./http/registry-api.js";
import { sendfileAvailable } from "./http/sendfile.js";
import { ServedCertificate } from "./http/served-certificate.js";
import {
  createHttpServer,
  createRequestHandler,
  type RequestObserver,
  type SideRoutes,
} from "./http/server.js";
import { statusRoutes } from "./http/status.js";
import { CacheKeeper } from "./ops/cache-keeper.js";
import { evictionScopeOf } from "./ops/eviction.js";
import { Metrics } from "./ops/metrics.js";
import { UsageRecorder } from "./ops/usage.js";
import { buildRouter } from "./repos/build.js";
import type { RepositoryRouter } from "./repos/router.js";
import { claimDataDir } from "./store/data-dir-owner.js";
import { openStores, type Stores } from "./store/open-stores.js";
import { VERSION } from "./version.js";

/** Abandoned uploads are looked for every 10 minutes, or more often when they expire sooner. */
function purgeInterval(expireAfterMs: number): number {
  return Math.max(1000, Math.min(10 * 60_000, expireAfterMs / 2));
}

export interface Listening {
  readonly address: string;
  readonly port: number;
  /** HTTPS (the configuration has a `tls` section). */
  readonly tls: boolean;
  readonly repository?: string;
}

export interface Wharf {
  readonly listening: readonly Listening[];
  readonly router: RepositoryRouter;
  close(): Promise<void>;
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
  // First, so a certificate that cannot be served stops the start before anything is opened. With
  // one, every listener speaks HTTPS only: a plain port beside it would invite clients to skip TLS.
  const certificate = config.tls === undefined ? undefined : await ServedCertificate.open(config.tls, logger);
  const dataDir = resolve(config.data_dir);
  const scope = evictionScopeOf(config);
  const caps = {
    ...(config.cache.max_size === undefined ? {} : { total: config.cache.max_size }),
    ...(config.cache.min_free === undefined ? {} : { minFree: config.cache.min_free }),
    repositories: new Map(
      [...scope.policy.repositories].flatMap(([repo, bounds]) =>
        bounds.maxSize === undefined ? [] : [[repo, bounds.maxSize] as const],
      ),
    ),
  };
  // Built before the stores they observe, so each reads them lazily.
  let keeper: CacheKeeper | undefined;
  let stores: Stores | undefined;
  const metrics = new Metrics({
    inflight: () => stores?.coalescer.inflight ?? 0,
    waiters: () => stores?.coalescer.waiters ?? 0,
    store: () => keeper?.snapshot,
    caps,
  });
  const opened = await openStores(
    dataDir,
    logger,
    { maxBytes: config.uploads.max_size },
    {
      downloads: {
        joined: () => metrics.downloads.joined?.(),
        // A full disk is the one failure eviction can mend: it runs at once.
        spoolFailed: () => keeper?.trigger("a download could not be written to disk"),
        stored: (bytes) => keeper?.grew(bytes),
      },
      uploads: metrics.uploadEvents,
    },
  );
  stores = opened;
  // So that `wharf prune` knows not to run beside it, and commands leave its staging alone.
  const releaseDataDir = await claimDataDir(dataDir);
  const usage = config.usage.enabled
    ? new UsageRecorder({ meta: opened.meta, flushIntervalMs: config.usage.flush_interval, logger })
    : undefined;
  keeper = new CacheKeeper({
    meta: opened.meta,
    blobs: opened.blobs,
    ingests: opened.ingests,
    scope,
    dataDir,
    checkIntervalMs: config.cache.check_interval,
    ...(usage ? { usage } : {}),
    logger,
    events: { evicted: (done) => metrics.evicted(done) },
  });
  const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000, connect: { timeout: 10_000 } });
  const router = buildRouter(config, {
    stores: opened,
    dispatcher,
    logger,
    upstreams: {
      exchange: (repo, exchange) => metrics.upstreamExchange(repo, exchange),
      rateLimit: (repo, snapshot) => metrics.rateLimit(repo, snapshot),
    },
  });
  const audit = logger.child({ audit: true });
  const auth = await openAuth(config, dataDir, audit);
  if (!auth) {
    for (const [name, repository] of Object.entries(config.repositories)) {
      if (repository.type === "hosted") {
        logger.warn(
          { repo: name },
          "anyone can push to and delete from this repository: authentication is off (auth.enabled: false)",
        );
      }
    }
  }
  const logins = { audit, loginRefused: (via: "basic" | "token") => metrics.loginsRefused.inc({ via }) };
  const api = new RegistryApi(router, auth ? tokenAccess(auth, logins) : OPEN_ACCESS);
  const sideRoutes: SideRoutes = new Map([
    ...statusRoutes({
      router,
      metrics,
      startedAt: Date.now(),
      cache: { store: () => keeper?.snapshot, caps },
    }),
    ...(auth ? [["/token", tokenRoute(auth, router, logins)] as const] : []),
  ]);
  const observe: RequestObserver = (ctx, status, seconds) => {
    const repository = ctx.repository ?? "";
    metrics.request({
      route: ctx.route ?? "other",
      method: ctx.method,
      status,
      repository,
      servedBy: repository,
      cache: ctx.cache,
      bytes: ctx.res.writableFinished ? ctx.bytes : 0,
      seconds,
    });
  };

  const { limits } = config;
  const serverLimits = {
    headersMs: limits.headers_timeout,
    keepAliveMs: limits.keep_alive_timeout,
    maxHeaderBytes: limits.max_header_size,
    maxConnections: limits.max_connections,
  };
  const body = { idleMs: limits.body_idle_timeout, minBytesPerSecond: limits.body_min_rate };
  const servers: Server[] = [];
  const listening: Listening[] = [];
  const bind = async (address: string, info: ListenerInfo) => {
    const server = createHttpServer(
      createRequestHandler({ api, sideRoutes, logger, listener: info, observe, body }),
      serverLimits,
      logger,
      certificate,
    );
    const { host, port } = parseListen(address);
    const bound = await listen(server, host, port);
    servers.push(server);
    const entry = { address: bound.address, port: bound.port, tls: certificate !== undefined, ...info };
    listening.push(entry);
    logger.info(entry, "listening");
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
  usage?.start();
  keeper.start();
  const purge = setInterval(() => {
    opened.uploads.purgeIdle(config.uploads.expire_after).then(
      (purged: number) => purged > 0 && logger.info({ uploads: purged }, "discarded abandoned uploads"),
      (error: unknown) => logger.error({ err: error }, "cannot discard abandoned uploads"),
    );
  }, purgeInterval(config.uploads.expire_after));
  purge.unref();
  logger.info(
    { version: VERSION, dataDir, repositories: [...router.repositories.keys()], sendfile: sendfileAvailable },
    "wharf started",
  );

  return {
    listening,
    router,
    async close() {
      clearInterval(purge);
      certificate?.close();
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
      await auth?.store.close();
      await keeper?.stop();
      // The last minute of pulls, before the database closes.
      await usage?.stop();
      await opened.meta.close();
      await releaseDataDir();
    },
  };
}
