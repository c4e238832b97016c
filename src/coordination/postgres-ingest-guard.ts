import { type IngestGuard, type IngestLease, LocalIngestGuard } from "./ingest-guard.js";
import { LOCK_SPACE, lockKey } from "./postgres-schema.js";
import type { PostgresSession } from "./postgres-session.js";

/** How often a hold waiting for another node's removal asks again. */
const DEFAULT_POLL_MS = 50;

interface Held {
  count: number;
  /** Settles once this node holds the digest's shared lock. */
  taken: Promise<void>;
}

/**
 * The ingest guard across nodes. Within this node, `LocalIngestGuard` orders holds and removals as
 * on one node; between nodes, each digest has a session advisory lock (`LOCK_SPACE.ingest`): a node
 * ingesting a digest holds it shared (once, however many of its requests hold it), a removal takes
 * it exclusive or is refused. The locks live in this node's coordination session, so a node that
 * dies lets go of them with its connection. Locks are only ever *tried*, never waited for inside the
 * server, so the session never blocks: a hold that finds another node removing asks again shortly.
 */
export class PostgresIngestGuard implements IngestGuard {
  readonly #session: PostgresSession;
  readonly #pollMs: number;
  readonly #local = new LocalIngestGuard();
  readonly #held = new Map<string, Held>();

  constructor(session: PostgresSession, options: { pollMs?: number } = {}) {
    this.#session = session;
    this.#pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    // A new connection holds nothing: take again what this node's ingests still hold.
    session.onRestore(async () => {
      for (const digest of this.#held.keys()) await this.#takeShared(digest);
    });
  }

  get ingesting(): number {
    return this.#local.ingesting;
  }

  async hold(digest: string): Promise<IngestLease> {
    const local = await this.#local.hold(digest);
    let held = this.#held.get(digest);
    if (held) held.count++;
    else {
      held = { count: 1, taken: this.#takeShared(digest) };
      this.#held.set(digest, held);
    }
    try {
      await held.taken;
    } catch (error) {
      this.#let(digest, held);
      local.release();
      throw error;
    }
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#let(digest, held);
        local.release();
      },
    };
  }

  async remove(digest: string, work: () => Promise<void>): Promise<boolean> {
    let refused = false;
    const ran = await this.#local.remove(digest, async () => {
      const { rows } = await this.#session.query<{ taken: boolean }>({
        text: "SELECT pg_try_advisory_lock($1, $2) AS taken",
        values: [LOCK_SPACE.ingest, lockKey(digest)],
      });
      if (!rows[0]?.taken) {
        refused = true;
        return;
      }
      try {
        await work();
      } finally {
        await this.#unlock("pg_advisory_unlock", digest);
      }
    });
    return ran && !refused;
  }

  /** Takes the digest's shared lock, asking again while another node removes it. */
  async #takeShared(digest: string): Promise<void> {
    for (;;) {
      const { rows } = await this.#session.query<{ taken: boolean }>({
        text: "SELECT pg_try_advisory_lock_shared($1, $2) AS taken",
        values: [LOCK_SPACE.ingest, lockKey(digest)],
      });
      if (rows[0]?.taken) return;
      await new Promise((resolve) => setTimeout(resolve, this.#pollMs));
    }
  }

  /** One hold of `digest` fewer; the last one lets go of the shared lock. */
  #let(digest: string, held: Held): void {
    held.count--;
    if (held.count > 0 || this.#held.get(digest) !== held) return;
    this.#held.delete(digest);
    // Statements run in order on the session, so a later hold's lock is taken after this unlock.
    held.taken.then(
      () => this.#unlock("pg_advisory_unlock_shared", digest),
      () => {},
    );
  }

  async #unlock(how: "pg_advisory_unlock" | "pg_advisory_unlock_shared", digest: string): Promise<void> {
    // A lost connection took the lock with it: nothing left to let go of.
    await this.#session
      .query({ text: `SELECT ${how}($1, $2)`, values: [LOCK_SPACE.ingest, lockKey(digest)] })
      .catch(() => {});
  }
}
