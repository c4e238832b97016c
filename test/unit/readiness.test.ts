import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { answers, Readiness, type ReadinessCheck, spoolWritable } from "../../src/ops/readiness.js";
import { Spool } from "../../src/store/spool.js";

function manualClock(start = 1_000_000): { now(): number; advance(ms: number): void } {
  let now = start;
  return { now: () => now, advance: (ms) => (now += ms) };
}

/** A check that counts its probes and fails while `failing` is set. */
function countingCheck(name: string): ReadinessCheck & { probes: number; failing?: string } {
  const check = {
    name,
    probes: 0,
    failing: undefined as string | undefined,
    async probe() {
      check.probes++;
      if (check.failing) throw new Error(check.failing);
    },
  };
  return check;
}

describe("Readiness", () => {
  test("ready when every check passes; each is named in the report", async () => {
    const readiness = new Readiness([countingCheck("store"), countingCheck("metadata")]);
    assert.deepEqual(await readiness.report(), {
      ready: true,
      checks: { store: { ok: true }, metadata: { ok: true }, shutdown: { ok: true } },
    });
  });

  test("a failing check makes it not ready and says which and why", async () => {
    const store = countingCheck("store");
    store.failing = "EROFS: read-only file system";
    const report = await new Readiness([store, countingCheck("metadata")]).report();
    assert.equal(report.ready, false);
    assert.deepEqual(report.checks.store, { ok: false, error: "EROFS: read-only file system" });
    assert.deepEqual(report.checks.metadata, { ok: true });
  });

  test("probes are cached for the cache period, so frequent probing costs one probe", async () => {
    const clock = manualClock();
    const store = countingCheck("store");
    const readiness = new Readiness([store], { clock, cacheMs: 1500 });
    await readiness.report();
    clock.advance(1499);
    await readiness.report();
    assert.equal(store.probes, 1);
    store.failing = "disk gone";
    clock.advance(1);
    assert.equal((await readiness.report()).ready, false, "a new probe after the cache period");
    assert.equal(store.probes, 2);
  });

  test("probes arriving together share one run", async () => {
    const store = countingCheck("store");
    const readiness = new Readiness([store]);
    await Promise.all([readiness.report(), readiness.report(), readiness.report()]);
    assert.equal(store.probes, 1);
  });

  test("a probe that hangs fails after its timeout instead of hanging the endpoint", async () => {
    const stuck: ReadinessCheck = { name: "store", probe: () => new Promise(() => {}) };
    const report = await new Readiness([stuck], { probeTimeoutMs: 30 }).report();
    assert.deepEqual(report.checks.store, { ok: false, error: "no answer within 30 ms" });
  });

  test("once stopping, not ready at the very next report, cached probes or not, and nothing is probed", async () => {
    const store = countingCheck("store");
    const readiness = new Readiness([store], { clock: manualClock() });
    assert.equal((await readiness.report()).ready, true);
    readiness.stopping();
    assert.deepEqual(await readiness.report(), {
      ready: false,
      checks: { shutdown: { ok: false, error: "shutting down" } },
    });
    assert.equal(store.probes, 1);
  });

  test("a stop that begins while probes run wins", async () => {
    let release: () => void = () => {};
    const slow: ReadinessCheck = { name: "store", probe: () => new Promise<void>((r) => (release = r)) };
    const readiness = new Readiness([slow]);
    const pending = readiness.report();
    readiness.stopping();
    release();
    assert.equal((await pending).ready, false);
  });

  test("answers() passes when the query resolves and fails with its error", async () => {
    const ok = await new Readiness([answers("metadata", async () => [])]).report();
    assert.equal(ok.ready, true);
    const closed = answers("metadata", async () => {
      throw new TypeError("The database connection is not open");
    });
    const report = await new Readiness([closed]).report();
    assert.deepEqual(report.checks.metadata, { ok: false, error: "The database connection is not open" });
  });
});

describe("spoolWritable", () => {
  test("writes and removes a file in the spool, leaving nothing behind", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "wharf-readyz-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const spool = new Spool(join(dir, "tmp"));
    await spool.init();
    assert.equal((await new Readiness([spoolWritable(spool)]).report()).ready, true);
    assert.deepEqual(await readdir(spool.directory), []);
  });

  test("fails when the store's disk cannot be written", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "wharf-readyz-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const spool = new Spool(join(dir, "tmp"));
    // No directory to write in: what a vanished or unmounted data directory looks like.
    const report = await new Readiness([spoolWritable(spool)]).report();
    assert.equal(report.ready, false);
    assert.match(report.checks.store?.error ?? "", /ENOENT/);
  });
});
