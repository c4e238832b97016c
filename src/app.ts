import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type { Logger } from "pino";
import { Agent } from "undici";
import { openAuth } from "./auth/setup.js";
import type { Config } from "./config/schema.js";
import { TOPICS } from "./coordination/coordination.js";
import { OPEN_ACCESS } from "./http/access.js";
import { adminRoutes } from "./http/admin/admin.js";
import { tokenAccess, tokenRoute } from "./http/auth-wiring.js";
import type { ListenerInfo } from "./http/context.js";
import { Drain } from "./http/drain.js";
import { internalFillRoutes } from "./http/internal-fills.js";
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
import type { UsageBatch } from "./meta/metadata-store.js";
import { ActivityLog } from "./ops/activity.js";
import { CacheKeeper } from "./ops/cache-keeper.js";
import { evictionScopeOf } from "./ops/eviction.js";
import { ContentImageSource, ImageCatalog } from "./ops/image-catalog.js";
import { Metrics } from "./ops/metrics.js";
import { PrefetchJobs } from "./ops/prefetch-jobs.js";
import { answers, Readiness, spoolWritable } from "./ops/readiness.js";
import { SeriesSampler, type SeriesSources } from "./ops/series.js";
import { ImageSync, syncJobsOf } from "./ops/sync.js";
import { UsageRecorder } from "./ops/usage.js";
import { buildRouter } from "./repos/build.js";
import type { RepositoryRouter } from "./repos/router.js";
import { claimDataDir } from "./store/data-dir-owner.js";
import { openStores, type StoreSettings } from "./store/open-stores.js";
import { systemClock } from "./util/clock.js";
import { isNoSpace } from "./util/fs-errors.js";
import { waitUntil } from "./util/wait-until.js";
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

export interface StopOptions {
  /** How long requests and downloads in flight may take before they are cut off; 0 (the default) cuts at once. */
  readonly graceMs?: number;
  /** Why the stop began (a signal), for its first log line. */
  readonly reason?: string;
}

export interface Wharf {
  readonly listening: readonly Listening[];
  readonly router: RepositoryRouter;
  /**
   * Stops: see `stopGracefully`. Resolves once the databases are closed; never rejects for
   * requests that had to be cut off. Calling it again returns the same stop.
   */
  close(options?: StopOptions): Promise<void>;
}

/** Where the configuration keeps blobs and metadata, in the words of the stores' opener. */
export function storeSettings(config: Config): StoreSettings {
  const s3 = config.storage?.s3;
  return {
    dataDir: resolve(config.data_dir),
    limits: { maxBytes: config.uploads.max_size },
    ...(s3
      ? {
          s3: {
            endpoint: s3.endpoint,
            region: s3.region,
            bucket: s3.bucket,
            accessKey: s3.access_key,
            secretKey: s3.secret_key,
            prefix: s3.prefix,
            redirect: s3.redirect,
            partBytes: s3.part_size,
          },
        }
      : {}),
    ...(config.database
      ? {
          postgres: { url: config.database.url, maxConnections: config.database.max_connections },
          cachedAcrossNodes: Object.entries(config.repositories)
            .filter(([, repository]) => repository.type === "proxy")
            .map(([name]) => name),
        }
      : {}),
  };
}

/**
 * Where the other nodes reach this one unless `cluster.advertise` says: the main listener's address,
 * or the machine's name when it listens on every interface.
 */
function advertisedUrl(main: Listening | undefined, tls: boolean): string {
  if (!main) throw new Error("no listener to advertise");
  const everywhere = main.address === "0.0.0.0" || main.address === "::";
  const host = everywhere ? hostname() : main.address.includes(":") ? `[${main.address}]` : main.address;
  return `${tls ? "https" : "http"}://${host}:${main.port}`;
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
  // Built before the stores and the keeper they observe: they read them when scraped or told.
  let keeper: CacheKeeper | undefined;
  const metrics = new Metrics({
    inflight: () => stores.coalescer.inflight,
    waiters: () => stores.coalescer.waiters,
    store: () => keeper?.snapshot,
    caps,
  });
  const stores = await openStores(storeSettings(config), logger, {
    downloads: {
      joined: () => metrics.downloads.joined?.(),
      // A download that could not be staged: a full disk, most likely, which eviction mends at once.
      spoolFailed: () => keeper?.trigger("a download could not be written to disk"),
      stored: (bytes) => keeper?.grew(bytes),
    },
    uploads: metrics.uploadEvents,
  });
  // So that `wharf prune` knows not to run beside it, and commands leave its staging alone.
  const releaseDataDir = await claimDataDir(dataDir);
  const activity = new ActivityLog(stores.meta, logger);
  const catalog = new ImageCatalog(new ContentImageSource(stores.meta), stores);
  // Pull counts written: the dashboard's listings of those repositories are read again.
  const recordUsage = async (batch: UsageBatch) => {
    await stores.meta.recordUsage(batch);
    for (const repo of new Set([...batch.manifests, ...batch.tags].map((entry) => entry.repo)))
      catalog.forget(repo);
  };
  const usage = config.usage.enabled
    ? new UsageRecorder({ meta: { recordUsage }, flushIntervalMs: config.usage.flush_interval, logger })
    : undefined;
  keeper = new CacheKeeper({
    meta: stores.meta,
    blobs: stores.blobs,
    ingests: stores.ingests,
    turn: stores.coordination.eviction,
    scope,
    dataDir,
    checkIntervalMs: config.cache.check_interval,
    ...(usage ? { usage } : {}),
    logger,
    events: {
      evicted: (done) => {
        metrics.evicted(done);
        const { image, reason } = done.eviction;
        catalog.forget(image.repo);
        activity.record({
          kind: "eviction",
          repo: image.repo,
          name: image.name,
          reference: image.tags[0] ?? image.digest,
          bytes: done.bytes,
          detail: reason,
        });
      },
    },
  });
  const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000, connect: { timeout: 10_000 } });
  const stopFirst: Array<() => void> = [];
  const startAfterListening: Array<() => void> = [];
  const router = buildRouter(config, {
    aheadRoom: (repo, bytes) => keeper?.hasRoomFor(repo, bytes) ?? true,
    onStop: (stop) => stopFirst.push(stop),
    onStart: (start) => startAfterListening.push(start),
    stores,
    dispatcher,
    logger,
    upstreams: {
      exchange: (repo, exchange) => metrics.upstreamExchange(repo, exchange),
      rateLimit: (repo, snapshot) => metrics.rateLimit(repo, snapshot),
    },
    observer: {
      manifestServed: (repo, name, digest, how) => {
        usage?.manifestServed(repo, name, digest, how);
        if (how.cache !== "miss") return;
        catalog.forget(repo);
        // Content new here that a client asked for: the dashboard's "first pull".
        if (how.counted) activity.record({ kind: "first-pull", repo, name, reference: how.tag ?? digest });
      },
      blobServed: (repo, name, digest) => usage?.blobServed(repo, name, digest),
      fetched: (repo, kind, bytes) => {
        metrics.fetchedBytes.inc({ repo, kind }, bytes);
        catalog.forget(repo);
      },
      // A disk that fills up is the one failure eviction mends: it runs at once.
      cacheFailed: (_repo, error) => {
        if (isNoSpace(error)) keeper?.trigger("the disk is full: content could not be kept");
      },
    },
  });
  const sync = new ImageSync({
    repositories: router.repositories,
    jobs: syncJobsOf(config.repositories),
    logger,
    events: { ran: (job, run) => metrics.syncRan(job.repo, run) },
  });
  const audit = logger.child({ audit: true });
  const auth = await openAuth(config, dataDir, audit, {
    signingKey: stores.coordination.signingKey,
    invalidations: stores.coordination.invalidations(TOPICS.auth, "auth" as const),
  });
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
  const logins = {
    audit,
    loginRefused: (via: "basic" | "token" | "session", user: string | undefined) => {
      metrics.loginsRefused.inc({ via });
      activity.record({ kind: "login-refused", ...(user === undefined ? {} : { user }), detail: via });
    },
  };
  const access = auth ? tokenAccess(auth, logins) : OPEN_ACCESS;
  const api = new RegistryApi(router, access);
  const sampler = new SeriesSampler(stores.meta, seriesSources(router, metrics), logger);
  const prefixRoutes = await adminRoutes({
    router,
    catalog,
    facts: {
      store: () => keeper?.snapshot,
      caps,
      traffic: () => metrics.cacheTotals(),
      sync: (repo) => sync.status().get(repo) ?? [],
    },
    ports: new Map(
      Object.entries(config.repositories).flatMap(([name, repository]) =>
        repository.port === undefined ? [] : [[name, repository.port] as const],
      ),
    ),
    access,
    auth,
    logins,
    actions: { jobs: new PrefetchJobs(activity, logger), keeper, meta: stores.meta, scope },
    records: stores.meta,
    activity,
    audit,
    clock: systemClock,
  });
  const readiness = new Readiness([
    spoolWritable(stores.spool),
    // Names nothing holds: an indexed lookup that only proves the database answers.
    answers("metadata", () => stores.meta.hasName("", "")),
    ...stores.probes,
    ...(auth ? [answers("auth", () => auth.store.getUser(""))] : []),
  ]);
  const drain = new Drain();
  const sideRoutes: SideRoutes = new Map([
    ...statusRoutes({
      router,
      metrics,
      readiness,
      startedAt: Date.now(),
      cache: { store: () => keeper?.snapshot, caps, sync: () => sync.status() },
    }),
    ...(auth ? [["/token", tokenRoute(auth, router, logins)] as const] : []),
    ...(stores.coordination.downloads
      ? internalFillRoutes(stores.coalescer, stores.coordination.downloads.auth)
      : []),
  ]);
  const observe: RequestObserver = (ctx, status, seconds) => {
    const repository = ctx.repository ?? "";
    if (ctx.changed && status >= 200 && status < 300) catalog.forget(ctx.changed.repo);
    if (ctx.changed && ctx.route === "manifest" && status >= 200 && status < 300) {
      const kind = ctx.method === "PUT" ? "push" : "delete";
      activity.record({ kind, ...ctx.changed, ...(ctx.user === undefined ? {} : { user: ctx.user }) });
    }
    metrics.request({
      route: ctx.route ?? "other",
      method: ctx.method,
      status,
      repository,
      servedBy: ctx.servedBy ?? repository,
      cache: ctx.cache,
      bytes: ctx.res.writableFinished || ctx.delivered ? ctx.bytes : 0,
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
  const listening: Listening[] = [];
  const bind = async (address: string, info: ListenerInfo) => {
    const server = createHttpServer(
      createRequestHandler({ api, sideRoutes, prefixRoutes, logger, listener: info, observe, body, drain }),
      serverLimits,
      logger,
      certificate,
    );
    const { host, port } = parseListen(address);
    const bound = await listen(server, host, port);
    drain.add(server);
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
  await stores.coordination.nodes.join(
    config.cluster?.advertise ?? advertisedUrl(listening[0], certificate !== undefined),
  );
  usage?.start();
  keeper.start();
  sync.start();
  sampler.start();
  for (const start of startAfterListening) start();
  // So that the first look at the dashboard does not wait for every image to be read (its rows,
  // garbage once read, are collected after it: `contentSlices`).
  const warmStarted = performance.now();
  const warming = catalog.warm([...router.repositories.keys()]).then(
    () => logger.info({ ms: Math.round(performance.now() - warmStarted) }, "images read for the dashboard"),
    (error: unknown) => logger.warn({ err: error }, "cannot read the images for the dashboard"),
  );
  const purge = setInterval(() => {
    stores.uploads.purgeIdle(config.uploads.expire_after).then(
      (purged: number) => purged > 0 && logger.info({ uploads: purged }, "discarded abandoned uploads"),
      (error: unknown) => logger.error({ err: error }, "cannot discard abandoned uploads"),
    );
  }, purgeInterval(config.uploads.expire_after));
  purge.unref();
  logger.info(
    { version: VERSION, dataDir, repositories: [...router.repositories.keys()], sendfile: sendfileAvailable },
    "wharf started",
  );

  let stopped: Promise<void> | undefined;
  return {
    listening,
    router,
    close(options = {}) {
      // No new sync run starts while requests drain; one running is waited for below.
      void sync.stop();
      // Downloads nobody asked for are not worth the grace period.
      for (const stop of stopFirst) stop();
      stopped ??= stopGracefully(options, {
        logger,
        readiness,
        drain,
        downloads: () => stores.coalescer.inflight,
        dispatcher,
        closeRest: async () => {
          clearInterval(purge);
          certificate?.close();
          await auth?.store.close();
          await sync.stop();
          await keeper?.stop();
          // The last minute of pulls, traffic and events, before the database closes.
          await usage?.stop();
          await warming;
          await sampler.stop();
          await activity.flush();
          await stores.close();
          await releaseDataDir();
        },
      });
      return stopped;
    },
  };
}

/** What the dashboard's time series samples: the cache counters per repository, each proxy's last reported budget. */
function seriesSources(router: RepositoryRouter, metrics: Metrics): SeriesSources {
  return {
    traffic: async () => (await metrics.cacheTotals()).repositories,
    budgets: async () => {
      const budgets: Record<string, { remaining?: number; limit?: number }> = {};
      for (const repository of router.repositories.values()) {
        const described = await repository.describe();
        if (described.type !== "proxy") continue;
        const { remaining, limit } = described.upstream.rateLimit;
        budgets[repository.name] = {
          ...(remaining === undefined ? {} : { remaining }),
          ...(limit === undefined ? {} : { limit }),
        };
      }
      return budgets;
    },
  };
}

/** After the cut-off, how long handlers and downloads get to notice it before the databases close. */
const SETTLE_AFTER_CUT_MS = 5000;

/**
 * The stop sequence. At once: `/readyz` fails, the listeners stop accepting, keep-alive clients
 * are told `Connection: close` and idle connections closed. Then requests and upstream downloads
 * in flight get `graceMs` to finish. Whatever still runs is cut off: upstream requests are
 * aborted (a download that did not complete is discarded by the fill, so nothing half-written
 * enters the store; its spool file is removed, or at the next start) and connections closed.
 * Last, the databases close. Each step is logged once.
 */
async function stopGracefully(
  options: StopOptions,
  parts: {
    logger: Logger;
    readiness: Readiness;
    drain: Drain;
    downloads: () => number;
    dispatcher: Agent;
    closeRest: () => Promise<void>;
  },
): Promise<void> {
  const { logger, readiness, drain, downloads, dispatcher } = parts;
  const started = performance.now();
  const graceMs = options.graceMs ?? 0;
  readiness.stopping();
  drain.begin();
  logger.info(
    { ...(options.reason ? { reason: options.reason } : {}), graceMs },
    "stopping: new connections refused, /readyz answers 503",
  );
  const inFlight = () => ({ requests: drain.active, downloads: downloads() });
  const idle = () => drain.active === 0 && downloads() === 0;
  const what = ({ requests, downloads }: ReturnType<typeof inFlight>) =>
    `${requests} request${requests === 1 ? "" : "s"} and ${downloads} download${downloads === 1 ? "" : "s"}`;
  if (!idle()) {
    const now = inFlight();
    if (graceMs > 0) logger.info(now, `waiting up to ${graceMs} ms for ${what(now)}`);
    if (!(graceMs > 0 && (await waitUntil(idle, graceMs)))) {
      const left = inFlight();
      logger.warn(left, `cutting off ${what(left)}`);
    }
  }
  await dispatcher.destroy();
  drain.cutOff();
  if (!(await waitUntil(idle, SETTLE_AFTER_CUT_MS))) {
    logger.warn(inFlight(), "closing the databases while requests still run");
  }
  drain.end();
  await parts.closeRest();
  logger.info({ ms: Math.round(performance.now() - started) }, "stopped");
}
