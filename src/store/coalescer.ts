import type { DownloadLease } from "../coordination/blob-leases.js";
import { type InFlight, LocalInFlight } from "../coordination/in-flight.js";
import { type IngestGuard, LocalIngestGuard } from "../coordination/ingest-guard.js";
import type { ParsedDigest } from "../oci/digest.js";
import type { InProgressBody } from "./blob-body.js";
import type { BlobStore, ByteRange } from "./blob-store.js";
import { type ClusterRelay, type OpenedDownload, StoredMeanwhileError } from "./cluster-relay.js";
import { type DownloadStaging, stageDownload, stageRelay } from "./download-staging.js";
import { BlobFill, type FillEvents, type FillSource } from "./fill.js";
import type { Spool } from "./spool.js";

/** Where a download's bytes came from: the upstream, or the node of the cluster that downloads them. */
export type DownloadSource = "upstream" | "peer";

/** What the request that starts a download hears of it, besides its bytes. */
export interface DownloadEvents extends FillEvents {
  onStart?(fill: BlobFill, from: DownloadSource): void;
  /**
   * Runs once the download is verified (`stored`: it entered the store), while its digest is still
   * held, so that linking it happens before anything may delete its file. Joiners that find the
   * download stored read the store only after this ended.
   */
  onDone?(fill: BlobFill, stored: boolean, from: DownloadSource): Promise<void>;
}

export type Joined =
  | {
      readonly kind: "fill";
      readonly fill: BlobFill;
      readonly body: InProgressBody;
      /** Settles once the download ended and its `onDone` ran: true when it was stored. Never rejects. */
      readonly kept: Promise<boolean>;
    }
  /** The download finished while we were joining: read the store instead. */
  | { readonly kind: "stored" };

/** What downloads tell their owner: for metrics, and to start an eviction when a disk fills up. */
export interface DownloadObserver {
  /** A request joined a download another request started. */
  joined?(): void;
  /** A download's staging could not be written (a full disk): it goes on uncached. */
  spoolFailed?(error: unknown): void;
  /** A verified download entered the store. */
  stored?(bytes: number): void;
}

/**
 * A download in flight: its fill, and `done`, which settles once its `onDone` ran and its holds
 * were released. The key stays taken until then, not only until the fill settles: between the
 * commit and the link the blob is in the store but not yet this name's, and a request then must
 * join the download (or wait for the link) rather than take the file for someone else's.
 */
interface Running {
  readonly fill: BlobFill;
  readonly done: Promise<void>;
}

export interface CoalescerOptions {
  readonly inFlight?: InFlight<Running>;
  /** Held for each download from its start until it settled, so nothing deletes the file it may find stored. */
  readonly ingests?: IngestGuard;
  readonly observer?: DownloadObserver;
  /** Across nodes: who downloads each blob, the others streaming it from there. Without it, this process decides alone. */
  readonly relay?: ClusterRelay;
}

/** The lease of a download no other node could want: this process is alone. */
const ALONE: DownloadLease = { release: async () => {} };

/**
 * One download per blob: concurrent requests with the same key share one upstream request and one
 * BlobFill (who runs it is `InFlight`'s business); an upstream error before the first byte (404,
 * 429, outage) reaches every joined request from the one upstream answer.
 */
export class Coalescer {
  readonly #store: BlobStore;
  readonly #spool: Spool;
  readonly #inFlight: InFlight<Running>;
  readonly #ingests: IngestGuard;
  readonly #observer: DownloadObserver;
  readonly #relay: ClusterRelay | undefined;
  /** Downloads this node runs from upstream, by key: what other nodes may stream. */
  readonly #upstreamFills = new Map<string, BlobFill>();
  /** Downloads this node streams from another node. */
  readonly #relayed = new WeakSet<BlobFill>();
  #waiters = 0;

  /** `spool` holds the local copy of downloads whose store stages elsewhere (see `stageDownload`). */
  constructor(store: BlobStore, spool: Spool, options: CoalescerOptions = {}) {
    this.#store = store;
    this.#spool = spool;
    this.#inFlight = options.inFlight ?? new LocalInFlight();
    this.#ingests = options.ingests ?? new LocalIngestGuard();
    this.#observer = options.observer ?? {};
    this.#relay = options.relay;
  }

  get inflight(): number {
    return this.#inFlight.size;
  }

  /** Requests reading a download that another request started, now. */
  get waiters(): number {
    return this.#waiters;
  }

  /** The download of `key` running here (receiving, or verified and being stored), if any. */
  current(key: string): BlobFill | undefined {
    const fill = this.#inFlight.current(key)?.fill;
    return fill?.state === "failed" ? undefined : fill;
  }

  /**
   * Reads the blob from the running download for `key`, starting one with `open` when none can
   * be joined. `rangeFor` picks the bytes once the size is known (it may throw, e.g. for an
   * unsatisfiable range; a download this call started then still completes). `onStart` and
   * `onDone` run once, for the download this call started.
   */
  join(
    key: string,
    digest: ParsedDigest,
    open: () => Promise<FillSource>,
    rangeFor: (size: number | undefined) => ByteRange | undefined,
    events: DownloadEvents,
  ): Promise<Joined> {
    const observer = this.#observer;
    const watched: FillEvents = {
      ...events,
      onSpoolFailure: (error) => {
        events.onSpoolFailure?.(error);
        observer.spoolFailed?.(error);
      },
    };
    const start = async (): Promise<Running> => {
      // Asked at once (joiners in the same tick share it); the fill, and so its commit, waits for the hold.
      const opening = this.#open(key, digest, open);
      opening.catch(() => {});
      // Alone, the bytes can only come from upstream: their staging files are opened while it
      // answers, not after (two opens off a cold blob's first byte).
      const staging = this.#relay ? undefined : stageDownload(this.#store, this.#spool, digest.digest);
      staging?.catch(() => {});
      const lease = await this.#ingests.hold(digest.digest);
      let fill: BlobFill;
      let opened: OpenedDownload | undefined;
      try {
        opened = await opening;
        const relayed = opened.relayed;
        fill = await BlobFill.create(
          digest,
          opened.source,
          () =>
            staging ??
            (relayed
              ? stageRelay(this.#store, this.#spool, digest.digest)
              : stageDownload(this.#store, this.#spool, digest.digest)),
          watched,
        );
      } catch (error) {
        lease.release();
        if (opened && !opened.relayed) await opened.lease.release();
        await staging?.then(discardStaging, () => {});
        throw error;
      }
      const download = opened.relayed ? undefined : opened.lease;
      if (!download) this.#relayed.add(fill);
      else if (this.#relay) this.#upstreamFills.set(key, fill);
      const ended = async () => {
        lease.release();
        if (this.#upstreamFills.get(key) === fill) this.#upstreamFills.delete(key);
        // Only now may another node take the blob on: it finds it stored and linked.
        await download?.release();
      };
      const done = fill.done.then(
        async ({ stored }) => {
          try {
            await events.onDone?.(fill, stored, download ? "upstream" : "peer");
          } finally {
            await ended();
          }
          if (stored) observer.stored?.(fill.received);
        },
        () => ended(),
      );
      // A failing onDone is its caller's to report; the hold is released either way.
      done.catch(() => {});
      return { fill, done };
    };
    const joined = this.#inFlight.join<Joined>(key, start, async (running, started) => {
      const { fill } = running;
      if (started) {
        events.onStart?.(fill, this.#relayed.has(fill) ? "peer" : "upstream");
        try {
          const body = fill.createBody(rangeFor(fill.size)) as InProgressBody;
          return { kind: "fill", fill, body, kept: kept(running) };
        } finally {
          fill.run();
        }
      }
      if (fill.joinable) {
        const body = fill.createBody(rangeFor(fill.size)) as InProgressBody;
        observer.joined?.();
        return { kind: "fill", fill, body: this.#counted(body), kept: kept(running) };
      }
      if (fill.state === "verified" && (await fill.done).stored) {
        await running.done.catch(() => {});
        return { kind: "stored" };
      }
      return undefined;
    });
    return joined.catch((error: unknown) => {
      if (error instanceof StoredMeanwhileError) return { kind: "stored" } as const;
      throw error;
    });
  }

  /**
   * The download of `key` this node runs from upstream, as a body from its first byte, for another
   * node to stream (`ClusterRelay` there): undefined when there is none or its start is gone.
   */
  forPeer(key: string): { readonly size: number | undefined; readonly body: InProgressBody } | undefined {
    const fill = this.#upstreamFills.get(key);
    const body = fill?.createBody();
    return fill && body ? { size: fill.size, body } : undefined;
  }

  /** Where the download's bytes come from: upstream in one process; by lease across nodes. */
  #open(key: string, digest: ParsedDigest, open: () => Promise<FillSource>): Promise<OpenedDownload> {
    if (this.#relay) return this.#relay.open(key, digest.digest, open);
    return open().then((source) => ({ source, lease: ALONE, relayed: false }));
  }

  /** A joined request's body, counted among the waiters until it is released. */
  #counted(body: InProgressBody): InProgressBody {
    this.#waiters++;
    let released = false;
    return {
      ...body,
      release: () => {
        body.release();
        if (released) return;
        released = true;
        this.#waiters--;
      },
    };
  }
}

/** Settles once the download ended and its `onDone` ran: true when it was stored. Never rejects. */
function kept({ fill, done }: Running): Promise<boolean> {
  return done.then(
    () =>
      fill.done.then(
        ({ stored }) => stored,
        () => false,
      ),
    () => false,
  );
}

/** A staging no download will use (the upstream refused): its files go. */
async function discardStaging({ writer, file }: DownloadStaging): Promise<void> {
  await Promise.all([writer.abort(), file.close()]).catch(() => {});
}
