/**
 * The tables the nodes of a cluster agree through, beside the metadata in the same PostgreSQL
 * database (component `coordination` of `wharf_schema`, migrated as the stores' tables are). Times
 * are milliseconds since the epoch by the writing node's clock: the nodes' clocks must agree to
 * well within a lease (NTP does), and in-process tests move a manual clock instead of sleeping.
 *
 *   upstream_state  one row per proxy repository: the pull budget its upstream last reported and
 *                   the back-off after a 429, which every node asks before a counted request
 *   upload_locks    the expiring lease of the request writing an upload session
 *   signing_key     the one ES256 key that signs registry tokens for every node
 *   cluster_nodes   who is up: id, the URL other nodes reach it at, last heartbeat
 *   blob_leases     which node downloads a blob (by download key) from upstream, until when
 */
export const COORDINATION_MIGRATIONS: readonly string[] = [
  `CREATE TABLE upstream_state (
     upstream TEXT PRIMARY KEY, budget_limit BIGINT, remaining BIGINT, window_seconds BIGINT,
     source TEXT, observed_at BIGINT, backoff_until BIGINT NOT NULL DEFAULT 0, backoff_reason TEXT
   );
   CREATE TABLE upload_locks (id TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL);
   CREATE TABLE signing_key (id INTEGER PRIMARY KEY CHECK (id = 1), pem TEXT NOT NULL);
   CREATE TABLE cluster_nodes (
     id TEXT PRIMARY KEY, internal_url TEXT NOT NULL, started_at BIGINT NOT NULL, heartbeat_at BIGINT NOT NULL
   );`,
  `CREATE TABLE blob_leases (
     key TEXT PRIMARY KEY, node TEXT NOT NULL, holder TEXT NOT NULL, expires_at BIGINT NOT NULL
   );`,
];

/**
 * Namespaces of the session advisory locks (the two-key form: namespace, 32-bit key), so that
 * wharf's locks never meet another application's in the same database.
 */
export const LOCK_SPACE = {
  /** One digest's ingests (shared) against its removal (exclusive). */
  ingest: 0x77680001,
  /** Turns that one node takes at a time (eviction). */
  turn: 0x77680002,
} as const;

/** A 32-bit key for a name: a collision only makes two names share a lock, which is safe. */
export function lockKey(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}
