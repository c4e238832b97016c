// Repositories built in-process over the in-memory stores, a fake upstream and a manual clock:
// what test/inprocess/*.test.ts stand on. Nothing here starts a process or opens a socket.
import { join } from "node:path";
import type { TestContext } from "node:test";
import pino, { type Logger } from "pino";
import { LocalIngestGuard } from "../../src/coordination/ingest-guard.js";
import { CachedMetadataStore } from "../../src/meta/cached-metadata-store.js";
import type { MetadataStore } from "../../src/meta/metadata-store.js";
import type { Reference } from "../../src/oci/names.js";
import type { RangeRequest } from "../../src/oci/range.js";
import type { AheadRoom, FetchAheadSettings } from "../../src/repos/fetch-ahead.js";
import { HostedRepository } from "../../src/repos/hosted.js";
import { ProxyRepository } from "../../src/repos/proxy.js";
import type { BlobContent, ManifestRequest } from "../../src/repos/repository.js";
import { bytesOf as bytesOfBody } from "../../src/store/blob-body.js";
import { Coalescer } from "../../src/store/coalescer.js";
import { SmallContent } from "../../src/store/small-content.js";
import { Spool } from "../../src/store/spool.js";
import { StagedUploadSessions } from "../../src/store/staged-upload-sessions.js";
import { ManualClock } from "../fakes/manual-clock.js";
import { MemoryBlobStore } from "../fakes/memory-blob-store.js";
import { MemoryMetadataStore } from "../fakes/memory-metadata-store.js";
import { tempDir } from "../unit/helpers.js";

export interface World {
  readonly clock: ManualClock;
  /** The in-memory store behind the request path's cache, as wharf reads its database. */
  readonly meta: MetadataStore;
  readonly blobs: MemoryBlobStore;
  readonly spool: Spool;
  readonly documents: SmallContent;
  readonly coalescer: Coalescer;
  readonly uploads: StagedUploadSessions;
  readonly ingests: LocalIngestGuard;
  readonly logger: Logger;
  /** What the repositories logged, parsed. */
  readonly logs: Array<Record<string, unknown>>;
}

/**
 * Fresh stores for one test. The blob store is in memory; downloads still need a spool file for
 * their readers (the in-memory store stages nowhere local), so the spool lives in a temp directory.
 */
export async function world(t: TestContext): Promise<World> {
  const clock = new ManualClock();
  const blobs = new MemoryBlobStore({ clock });
  // Every repository test goes through the cache wharf puts in front of its database, so each one
  // also proves that no moved tag, deleted manifest or unlinked blob is served from memory.
  const meta = new CachedMetadataStore(new MemoryMetadataStore(clock), { now: () => clock.now() });
  const spool = new Spool(join(await tempDir(t, "inprocess"), "tmp"));
  await spool.init();
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: "info" },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const ingests = new LocalIngestGuard();
  return {
    clock,
    meta,
    blobs,
    spool,
    documents: new SmallContent(blobs),
    coalescer: new Coalescer(blobs, spool, { ingests }),
    ingests,
    uploads: new StagedUploadSessions({ meta, blobs, limits: { maxBytes: 1024 * 1024 }, clock }),
    logger,
    logs,
  };
}

export interface ProxySettings {
  readonly name?: string;
  readonly tagTtlMs?: number;
  readonly libraryPrefix?: boolean;
  /** Off unless given. */
  readonly fetchAhead?: FetchAheadSettings;
  readonly aheadRoom?: AheadRoom;
  /** Another coalescer than the world's (e.g. over a store that fails). */
  readonly coalescer?: Coalescer;
}

export const TTL_MS = 60_000;

export function proxyOf(
  w: World,
  upstream: ConstructorParameters<typeof ProxyRepository>[0]["upstream"],
  settings: ProxySettings = {},
): ProxyRepository {
  return new ProxyRepository({
    name: settings.name ?? "hub",
    upstream,
    libraryPrefix: settings.libraryPrefix ?? false,
    tagTtlMs: settings.tagTtlMs ?? TTL_MS,
    meta: w.meta,
    blobs: w.blobs,
    documents: w.documents,
    coalescer: settings.coalescer ?? w.coalescer,
    ingests: w.ingests,
    logger: w.logger,
    clock: w.clock,
    ...(settings.fetchAhead ? { fetchAhead: settings.fetchAhead } : {}),
    ...(settings.aheadRoom ? { aheadRoom: settings.aheadRoom } : {}),
  });
}

export function hostedOf(w: World, name = "private", allowDelete = true): HostedRepository {
  return new HostedRepository({
    name,
    allowDelete,
    meta: w.meta,
    blobs: w.blobs,
    documents: w.documents,
    uploads: w.uploads,
    ingests: w.ingests,
    clock: w.clock,
  });
}

export const GET: ManifestRequest = { method: "GET", accept: [] };
export const HEAD: ManifestRequest = { method: "HEAD", accept: [] };

export function tag(name: string): Reference {
  return { kind: "tag", tag: name };
}

export function digest(value: string): Reference {
  return { kind: "digest", digest: value };
}

export function range(start: number, end?: number): RangeRequest {
  return end === undefined ? { kind: "from", start } : { kind: "from", start, end };
}

/** Every byte of a blob answer, whatever its body kind; rejects when the download fails. */
export async function bytesOf(content: BlobContent): Promise<Buffer> {
  const { body } = content;
  if (body.kind === "redirect") throw new Error(`a redirect to ${body.url}, not bytes`);
  return bytesOfBody(body);
}

/**
 * Waits for what a download does after its readers are done (commit, link, log line) or other
 * background work: polls `check` on timers, since the download's writes wait on timers too.
 */
export async function eventually(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await check()) return;
    await new Promise<void>((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`never happened: ${what}`);
}

/** The log line a download ends with (fetched, or what went wrong), for `digest`. */
export function downloadEnded(w: World, digestValue: string): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  return eventually(`the download of ${digestValue} ended`, () => {
    found = w.logs.find(
      (line) =>
        line.digest === digestValue &&
        (line.msg === "blob fetched from upstream" || String(line.msg).endsWith("nothing was cached")),
    );
    return found !== undefined;
  }).then(() => found as Record<string, unknown>);
}
