import { unlink } from "node:fs/promises";
import type { Spool } from "../store/spool.js";
import { type Clock, systemClock } from "../util/clock.js";
import { SingleFlight } from "../util/single-flight.js";

/** Something wharf needs to serve: the store's disk, a database. */
export interface ReadinessCheck {
  readonly name: string;
  /** Resolves when it works, throws saying what does not. Runs at most once per cache period. */
  probe(): Promise<void>;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly error?: string;
}

export interface ReadinessReport {
  readonly ready: boolean;
  /** Every check by name, `shutdown` included: a load balancer's operator sees which one failed. */
  readonly checks: Readonly<Record<string, CheckResult>>;
}

/** Probes are cached this long: a load balancer probing every second costs one tiny write. */
const DEFAULT_CACHE_MS = 1500;
/** A probe that hangs (a stuck disk) is a failed probe, not a hung readiness endpoint. */
const DEFAULT_PROBE_TIMEOUT_MS = 2000;

/**
 * Whether this instance should get traffic (`/readyz`): every check passes and it is not
 * shutting down. Shutting down is not cached: it fails the very next probe.
 */
export class Readiness {
  readonly #checks: readonly ReadinessCheck[];
  readonly #clock: Clock;
  readonly #cacheMs: number;
  readonly #timeoutMs: number;
  readonly #flight = new SingleFlight<Record<string, CheckResult>>();
  #cached: { at: number; results: Record<string, CheckResult> } | undefined;
  #stopping = false;

  constructor(
    checks: readonly ReadinessCheck[],
    options: { clock?: Clock; cacheMs?: number; probeTimeoutMs?: number } = {},
  ) {
    this.#checks = checks;
    this.#clock = options.clock ?? systemClock;
    this.#cacheMs = options.cacheMs ?? DEFAULT_CACHE_MS;
    this.#timeoutMs = options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  }

  /** From now on not ready; called first thing when a stop begins. */
  stopping(): void {
    this.#stopping = true;
  }

  get isStopping(): boolean {
    return this.#stopping;
  }

  async report(): Promise<ReadinessReport> {
    // A stopping instance is not probed: its stores are about to close.
    const probed = this.#stopping ? {} : await this.#probed();
    // Read after the probes, so a stop that began while they ran wins.
    const shutdown: CheckResult = this.#stopping ? { ok: false, error: "shutting down" } : { ok: true };
    const checks = { ...probed, shutdown };
    return { ready: Object.values(checks).every((check) => check.ok), checks };
  }

  async #probed(): Promise<Record<string, CheckResult>> {
    const cached = this.#cached;
    if (cached && this.#clock.now() - cached.at < this.#cacheMs) return cached.results;
    return this.#flight.run("probe", async () => {
      const entries = await Promise.all(
        this.#checks.map(async (check) => [check.name, await this.#run(check)] as const),
      );
      const results = Object.fromEntries(entries);
      this.#cached = { at: this.#clock.now(), results };
      return results;
    });
  }

  async #run(check: ReadinessCheck): Promise<CheckResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    try {
      await Promise.race([check.probe(), timeout]);
      return { ok: true };
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The store's disk takes a write: a one-byte file in the spool, written, closed and removed. */
export function spoolWritable(spool: Spool): ReadinessCheck {
  return {
    name: "store",
    async probe() {
      const { path, handle } = await spool.create("readyz");
      try {
        await handle.write(Buffer.from("1"));
      } finally {
        await handle.close();
        await unlink(path);
      }
    },
  };
}

/** A database that answers a query: one cheap read through its own interface. */
export function answers(name: string, query: () => Promise<unknown>): ReadinessCheck {
  return {
    name,
    async probe() {
      await query();
    },
  };
}
