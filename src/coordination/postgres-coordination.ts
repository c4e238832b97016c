import type pg from "pg";
import { migratePostgres } from "../meta/postgres-migrations.js";
import { openPool, type PostgresOptions } from "../meta/postgres-pool.js";
import { type Clock, systemClock } from "../util/clock.js";
import type { Coordination, SharedDownloads } from "./coordination.js";
import { NodeAuth } from "./node-auth.js";
import { PostgresBlobLeases } from "./postgres-blob-leases.js";
import { PostgresIngestGuard } from "./postgres-ingest-guard.js";
import { PostgresInvalidations } from "./postgres-invalidations.js";
import { PostgresNodeDirectory } from "./postgres-nodes.js";
import { COORDINATION_MIGRATIONS } from "./postgres-schema.js";
import { PostgresSession } from "./postgres-session.js";
import { PostgresSigningKey } from "./postgres-signing-key.js";
import { PostgresTurn } from "./postgres-turn.js";
import { PostgresUploadLock } from "./postgres-upload-lock.js";
import { PostgresUpstreamState } from "./postgres-upstream-state.js";
import { LocalTokenCache, type TokenCache } from "./token-cache.js";
import type { UpstreamState } from "./upstream-state.js";

export interface PostgresCoordinationOptions extends PostgresOptions {
  /** This node's id in the nodes table. */
  readonly self: string;
  readonly clock?: Clock;
  /** Where a lost coordination connection or a failed heartbeat is reported. */
  readonly onTrouble?: (error: unknown, what: string) => void;
  /** Lease and heartbeat lengths, shortened by tests. */
  readonly uploadLeaseMs?: number;
  readonly heartbeatMs?: number;
  readonly blobLeaseMs?: number;
}

/**
 * The cluster's shared state in its PostgreSQL database: tables for what outlives a connection
 * (`postgres-schema.ts`), and one session per node for advisory locks and LISTEN, which the
 * server drops when a node dies. A small pool of its own (the statements are single-row and short),
 * so a burst of metadata queries never queues a back-off check behind it.
 */
export class PostgresCoordination implements Coordination {
  readonly signingKey: PostgresSigningKey;
  readonly uploadLock: PostgresUploadLock;
  readonly ingests: PostgresIngestGuard;
  readonly eviction: PostgresTurn;
  readonly nodes: PostgresNodeDirectory;
  readonly downloads: SharedDownloads;
  readonly #pool: pg.Pool;
  readonly #session: PostgresSession;
  readonly #clock: Clock;
  readonly #onTrouble: PostgresCoordinationOptions["onTrouble"];

  private constructor(
    pool: pg.Pool,
    session: PostgresSession,
    auth: NodeAuth,
    options: PostgresCoordinationOptions,
  ) {
    this.#pool = pool;
    this.#session = session;
    this.#clock = options.clock ?? systemClock;
    this.#onTrouble = options.onTrouble;
    const clock = { clock: this.#clock };
    this.signingKey = new PostgresSigningKey(pool);
    this.uploadLock = new PostgresUploadLock(pool, {
      ...clock,
      ...(options.uploadLeaseMs === undefined ? {} : { leaseMs: options.uploadLeaseMs }),
    });
    this.ingests = new PostgresIngestGuard(session);
    this.eviction = new PostgresTurn(session, "eviction");
    this.nodes = new PostgresNodeDirectory(pool, options.self, {
      ...clock,
      ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
      onBeatFailed: (error) => options.onTrouble?.(error, "heartbeat"),
    });
    this.downloads = {
      leases: new PostgresBlobLeases(pool, options.self, {
        ...clock,
        ...(options.blobLeaseMs === undefined ? {} : { leaseMs: options.blobLeaseMs }),
      }),
      auth,
    };
  }

  /** Connects, migrates the coordination tables and opens this node's session. */
  static async open(options: PostgresCoordinationOptions): Promise<PostgresCoordination> {
    const pool = openPool({
      ...options,
      ...(options.onTrouble
        ? { onIdleError: (error: Error) => options.onTrouble?.(error, "idle connection") }
        : {}),
    });
    const session = new PostgresSession({
      url: options.url,
      onLost: (error) => options.onTrouble?.(error, "coordination session"),
    });
    try {
      await migratePostgres(pool, "coordination", COORDINATION_MIGRATIONS);
      await session.open();
      const auth = await NodeAuth.open(new PostgresSigningKey(pool));
      return new PostgresCoordination(pool, session, auth, options);
    } catch (error) {
      await session.close();
      await pool.end().catch(() => {});
      throw error;
    }
  }

  upstreamState(repo: string): UpstreamState {
    return new PostgresUpstreamState(this.#pool, repo, this.#clock);
  }

  tokenCache(_repo: string): TokenCache {
    return new LocalTokenCache();
  }

  invalidations<Change>(topic: string, everything: Change): PostgresInvalidations<Change> {
    return new PostgresInvalidations(this.#pool, this.#session, topic, everything, (error) =>
      this.#onTrouble?.(error, "invalidations"),
    );
  }

  async close(): Promise<void> {
    await this.nodes.leave().catch(() => {});
    await this.#session.close();
    await this.#pool.end();
  }
}
