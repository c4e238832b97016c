import { randomUUID } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { type Coordination, LocalCoordination, TOPICS } from "../coordination/coordination.js";
import type { IngestGuard } from "../coordination/ingest-guard.js";
import { PostgresCoordination } from "../coordination/postgres-coordination.js";
import {
  CachedMetadataStore,
  type MetadataCacheOptions,
  type MetadataChange,
} from "../meta/cached-metadata-store.js";
import type { MetadataStore } from "../meta/metadata-store.js";
import { PostgresMetadataStore } from "../meta/postgres-metadata-store.js";
import type { PostgresOptions } from "../meta/postgres-pool.js";
import { SqliteMetadataStore } from "../meta/sqlite-metadata-store.js";
import { sampled } from "../util/sampled.js";
import type { BlobStore } from "./blob-store.js";
import { ClusterRelay } from "./cluster-relay.js";
import { Coalescer, type DownloadObserver } from "./coalescer.js";
import { FsBlobStore } from "./fs-blob-store.js";
import { PeerFills } from "./peer-fills.js";
import { S3BlobStore } from "./s3-blob-store.js";
import { type S3Location, S3Objects } from "./s3-objects.js";
import { SmallContent } from "./small-content.js";
import { Spool } from "./spool.js";
import { StagedUploadSessions, type UploadObserver } from "./staged-upload-sessions.js";
import type { UploadLimits, UploadSessions } from "./upload-sessions.js";

/**
 * How often the metadata cache asks SQLite whether another process committed: at a warm GET's
 * rate the question itself would cost more than the lookup it saves.
 */
const OUTSIDE_CHECK_MS = 1;

/** Where the stores are: the data directory alone (the embedded default), or object storage and a database beside it. */
export interface StoreSettings {
  readonly dataDir: string;
  readonly limits: UploadLimits;
  /** Blobs and upload sessions in this bucket instead of `<data>/blobs` and `<data>/uploads`. */
  readonly s3?: S3Location & {
    /** Blob GETs are answered with a redirect to a presigned URL. */
    readonly redirect: boolean;
    /** Bytes per part of a blob's multipart upload. */
    readonly partBytes: number;
  };
  /** Metadata in this PostgreSQL database instead of `<data>/wharf.db`. */
  readonly postgres?: PostgresOptions;
  /**
   * With `postgres`, the repositories whose lookups a node answers from memory although other
   * nodes write them: proxies, whose tags are trusted for their TTL anyway and whose evicted
   * content is fetched again. A push or delete in a hosted repository must be seen by the very
   * next request whichever node it reaches, which a notification arriving a moment later is not.
   */
  readonly cachedAcrossNodes?: readonly string[];
}

/** Something the stores need from outside the process (object storage): `/readyz` probes it. */
export interface StoreProbe {
  readonly name: string;
  probe(): Promise<void>;
}

/** Everything kept in the data directory, opened once and shared by every repository. */
export interface Stores {
  readonly dataDir: string;
  /** Local scratch (`data/tmp`): staging and downloads' own copies; readiness writes a probe here. */
  readonly spool: Spool;
  readonly blobs: BlobStore;
  readonly meta: MetadataStore;
  readonly documents: SmallContent;
  readonly coalescer: Coalescer;
  readonly uploads: UploadSessions;
  /** Digests being made reachable: eviction and garbage collection delete none of their files. */
  readonly ingests: IngestGuard;
  /** What this node shares with the other nodes of its cluster (with `postgres`), or keeps alone. */
  readonly coordination: Coordination;
}

export interface StoreOptions {
  /** Who hears what downloads do (metrics, eviction's triggers). */
  readonly downloads?: DownloadObserver;
  /** Who hears what upload sessions do (metrics). */
  readonly uploads?: UploadObserver;
  /**
   * Empty `tmp/` (true by default): only when no server works on the directory, since its
   * downloads in progress stage there.
   */
  readonly sweep?: boolean;
  /** This node's id among the cluster's nodes; random by default. */
  readonly nodeId?: string;
}

/** The stores as opened, with what only their owner (the process) needs. */
export interface OpenedStores extends Stores {
  /** What `/readyz` should probe besides the spool and the metadata store. */
  readonly probes: readonly StoreProbe[];
  /** Stops the stores' own housekeeping, then closes the metadata store and the object store's connections. */
  close(): Promise<void>;
}

/** Multipart uploads are looked over for ones a dead writer left this often, besides at start. */
const STALE_UPLOAD_SWEEP_MS = 60 * 60_000;

/**
 * Opens the stores the settings name; this is the one place that chooses a backend, and nothing
 * above sees which it chose. By default, the data directory:
 *
 *   <data>/blobs/     verified content by digest (FsBlobStore)
 *   <data>/tmp/       blobs being written and downloads being verified; emptied here (unless a
 *                     server works on it), since nothing in it can be trusted
 *   <data>/uploads/   push sessions; kept, so clients can resume (expired ones are purged later)
 *   <data>/wharf.db   metadata (SQLite)
 *
 * With `s3`, blobs and push sessions live in the bucket (S3BlobStore) and only `tmp/` stays local;
 * with `postgres`, metadata lives in that database (PostgresMetadataStore).
 */
export async function openStores(
  settings: StoreSettings,
  logger: Logger,
  options: StoreOptions = {},
): Promise<OpenedStores> {
  const { dataDir } = settings;
  await mkdir(dataDir, { recursive: true });
  // One spool for the store's staging and the downloads' own copies: one directory to sweep.
  const spool = new Spool(join(dataDir, "tmp"));
  await spool.init();
  const remote = settings.s3 ? openS3(settings.s3, spool, logger) : undefined;
  const blobs = remote?.blobs ?? (await openFiles(dataDir, spool));
  try {
    if (options.sweep ?? true) {
      const debris = await blobs.sweepStaging();
      if (debris > 0) logger.info({ files: debris }, "removed leftovers of interrupted writes");
    }
    // First: the metadata cache hears the other nodes through it.
    const coordination = await openCoordination(settings, logger, options.nodeId ?? randomUUID());
    let meta: MetadataStore;
    try {
      if (settings.postgres) {
        const shared = await PostgresMetadataStore.open({
          ...settings.postgres,
          onIdleError: (error) =>
            logger.warn({ err: error }, "a metadata database connection failed while idle"),
        });
        const cacheable = new Set(settings.cachedAcrossNodes ?? []);
        meta = cached(shared, coordination, {
          maxAgeMs: SHARED_CACHE_MAX_AGE_MS,
          cacheable: (repo) => cacheable.has(repo),
        });
      } else {
        const sqlite = new SqliteMetadataStore(join(dataDir, "wharf.db"));
        // Asked once a millisecond at most: another process's commit is seen within that.
        meta = cached(sqlite, coordination, {
          outsideVersion: sampled(sqlite.dataVersion, OUTSIDE_CHECK_MS),
        });
      }
    } catch (error) {
      await coordination.close();
      throw error;
    }
    logger.info(
      {
        blobs: settings.s3 ? `s3 ${settings.s3.endpoint} bucket ${settings.s3.bucket}` : "filesystem",
        metadata: settings.postgres ? `postgres ${hostOf(settings.postgres.url)}` : "sqlite",
      },
      "stores opened",
    );
    const { ingests } = coordination;
    const shared = coordination.downloads;
    const peers = shared ? new PeerFills(shared.auth) : undefined;
    return {
      dataDir,
      spool,
      blobs,
      meta,
      documents: new SmallContent(blobs),
      coalescer: new Coalescer(blobs, spool, {
        ingests,
        ...(shared && peers ? { relay: new ClusterRelay(shared.leases, peers, blobs) } : {}),
        ...(options.downloads ? { observer: options.downloads } : {}),
      }),
      uploads: new StagedUploadSessions({
        meta,
        blobs,
        limits: settings.limits,
        lock: coordination.uploadLock,
        ...(options.uploads ? { observer: options.uploads } : {}),
      }),
      ingests,
      coordination,
      probes: remote?.probes ?? [],
      async close() {
        remote?.close();
        await peers?.close();
        await coordination.close();
        await meta.close();
      },
    };
  } catch (error) {
    remote?.close();
    throw error;
  }
}

/** Shared state in the metadata's database when there is one; this process's own otherwise. */
async function openCoordination(
  settings: StoreSettings,
  logger: Logger,
  self: string,
): Promise<Coordination> {
  if (!settings.postgres) return new LocalCoordination(self);
  return PostgresCoordination.open({
    url: settings.postgres.url,
    maxConnections: COORDINATION_CONNECTIONS,
    self,
    onTrouble: (error, what) =>
      logger.warn({ err: error, what }, "cluster coordination: a database connection failed"),
  });
}

/** Single-row statements, each short: a few connections carry every node's back-off checks and leases. */
const COORDINATION_CONNECTIONS = 4;

/**
 * The database behind the request path's cache, which hears every other writer: SQLite's own
 * change counter tells of another process's commits (the CLI beside a server), and the
 * coordination's invalidations of another node's (on PostgreSQL, NOTIFY), with an age bound for
 * what a lost notification could leave.
 */
function cached(
  inner: MetadataStore,
  coordination: Coordination,
  staleness: Pick<MetadataCacheOptions, "outsideVersion" | "maxAgeMs" | "cacheable">,
): MetadataStore {
  const invalidations = coordination.invalidations<MetadataChange>(TOPICS.metadata, { everything: true });
  const meta = new CachedMetadataStore(inner, {
    ...staleness,
    changed: (change) => invalidations.publish(change),
  });
  invalidations.subscribe((change) => meta.invalidate(change));
  return meta;
}

/** Nothing another node changed is served from this node's memory for longer, should its notification be lost. */
const SHARED_CACHE_MAX_AGE_MS = 10_000;

/** Where a database URL points, without its credentials. */
function hostOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.host}${parsed.pathname}`;
}

async function openFiles(dataDir: string, spool: Spool): Promise<BlobStore> {
  const blobs = new FsBlobStore({
    blobs: join(dataDir, "blobs"),
    staging: spool,
    sessions: join(dataDir, "uploads"),
  });
  await blobs.init();
  return blobs;
}

/** The bucket's store, with its periodic sweep of multipart uploads dead writers left. */
function openS3(
  settings: NonNullable<StoreSettings["s3"]>,
  spool: Spool,
  logger: Logger,
): { blobs: S3BlobStore; probes: StoreProbe[]; close(): void } {
  const objects = new S3Objects(settings);
  const blobs = new S3BlobStore({
    objects,
    spool,
    redirect: settings.redirect,
    partBytes: settings.partBytes,
  });
  const sweep = setInterval(() => {
    blobs.abortStaleUploads().then(
      (aborted) =>
        aborted > 0 &&
        logger.info({ uploads: aborted }, "aborted multipart uploads left by writers that died"),
      (error: unknown) => logger.warn({ err: error }, "cannot look over the bucket's multipart uploads"),
    );
  }, STALE_UPLOAD_SWEEP_MS);
  sweep.unref();
  return {
    blobs,
    probes: [{ name: "blob store", probe: () => objects.check() }],
    close() {
      clearInterval(sweep);
      objects.close();
    },
  };
}
