// The dashboard's time series: wharf's counters sampled per minute into the metadata store (only
// what changed), summed into hours, read back with every interval of the span, over the
// repositories asked for; and the activity log's batching.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pino } from "pino";
import { HOUR_MS, MINUTE_MS } from "../../src/meta/ops-records.js";
import { ActivityLog } from "../../src/ops/activity.js";
import {
  readSeries,
  SERIES_SPAN,
  SeriesSampler,
  type SeriesSources,
  type TrafficTotals,
} from "../../src/ops/series.js";
import { ManualClock } from "../fakes/manual-clock.js";
import { MemoryMetadataStore } from "../fakes/memory-metadata-store.js";

const silent = pino({ level: "silent" });
const T0 = Date.parse("2024-06-01T10:00:00Z");

function sources(state: {
  traffic: Record<string, TrafficTotals>;
  budgets?: Record<string, { remaining?: number; limit?: number }>;
}): SeriesSources {
  return { traffic: async () => state.traffic, budgets: async () => state.budgets ?? {} };
}

describe("SeriesSampler", () => {
  test("each minute records what changed since the last, under the minute that ended", async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryMetadataStore(clock);
    const state = { traffic: { hub: { hits: 3, misses: 1, bytesServed: 300, bytesFetched: 100 } } };
    const sampler = new SeriesSampler(store, sources(state), silent, clock);
    await sampler.sample(T0);
    state.traffic = { hub: { hits: 10, misses: 1, bytesServed: 1000, bytesFetched: 100 } };
    await sampler.sample(T0 + MINUTE_MS);
    // Nothing new: nothing written.
    await sampler.sample(T0 + 2 * MINUTE_MS);
    const minutes = await store.listSamples("minute", 0);
    assert.deepEqual(
      minutes.map((s) => [s.at - T0, s.hits, s.misses, s.bytesServed, s.bytesFetched]),
      [
        [0, 3, 1, 300, 100],
        [MINUTE_MS, 7, 0, 700, 0],
      ],
    );
    assert.deepEqual(
      (await store.listSamples("hour", 0)).map((s) => [s.at - T0, s.hits, s.bytesServed]),
      [[0, 10, 1000]],
    );
  });

  test("a counter that went back was reset: all of it is new; an upstream's budget is recorded while quiet", async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryMetadataStore(clock);
    const state: Parameters<typeof sources>[0] = {
      traffic: { hub: { hits: 50, misses: 0, bytesServed: 0, bytesFetched: 0 } },
    };
    const sampler = new SeriesSampler(store, sources(state), silent, clock);
    await sampler.sample(T0);
    state.traffic = { hub: { hits: 4, misses: 0, bytesServed: 0, bytesFetched: 0 } };
    state.budgets = { hub: { remaining: 90, limit: 100 } };
    await sampler.sample(T0 + MINUTE_MS);
    const [, second] = await store.listSamples("minute", 0);
    assert.equal(second?.hits, 4);
    assert.equal(second?.budgetRemaining, 90);
    assert.equal(second?.budgetLimit, 100);
  });

  test("what is older than a day of minutes and a month of hours is forgotten", async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryMetadataStore(clock);
    await store.recordSamples([
      {
        at: T0 - SERIES_SPAN.minute - MINUTE_MS,
        repo: "hub",
        hits: 1,
        misses: 0,
        bytesServed: 0,
        bytesFetched: 0,
      },
      {
        at: T0 - SERIES_SPAN.hour - HOUR_MS,
        repo: "hub",
        hits: 1,
        misses: 0,
        bytesServed: 0,
        bytesFetched: 0,
      },
    ]);
    await new SeriesSampler(store, sources({ traffic: {} }), silent, clock).sample(T0);
    assert.deepEqual(await store.listSamples("minute", 0), []);
    assert.equal((await store.listSamples("hour", 0)).length, 1, "the newer hour stays");
  });

  test("a sample that cannot be written is logged and added to the next", async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryMetadataStore(clock);
    const state = { traffic: { hub: { hits: 2, misses: 0, bytesServed: 0, bytesFetched: 0 } } };
    const sampler = new SeriesSampler(store, sources(state), silent, clock);
    const record = store.recordSamples.bind(store);
    store.recordSamples = async () => {
      throw new Error("disk full");
    };
    await sampler.sample(T0);
    store.recordSamples = record;
    state.traffic = { hub: { hits: 5, misses: 0, bytesServed: 0, bytesFetched: 0 } };
    await sampler.sample(T0 + MINUTE_MS);
    assert.deepEqual(
      (await store.listSamples("minute", 0)).map((s) => s.hits),
      [5],
    );
  });
});

describe("readSeries", () => {
  test("a point for every minute of the day, quiet ones zero; sums over the repositories asked for; the lowest budget", async () => {
    const store = new MemoryMetadataStore();
    const now = T0 + 30_000;
    await store.recordSamples([
      {
        at: T0,
        repo: "hub",
        hits: 2,
        misses: 1,
        bytesServed: 10,
        bytesFetched: 5,
        budgetRemaining: 80,
        budgetLimit: 100,
      },
      {
        at: T0,
        repo: "ghcr",
        hits: 1,
        misses: 0,
        bytesServed: 1,
        bytesFetched: 0,
        budgetRemaining: 40,
        budgetLimit: 60,
      },
      { at: T0, repo: "secret", hits: 100, misses: 0, bytesServed: 0, bytesFetched: 0 },
      { at: T0 - MINUTE_MS, repo: "hub", hits: 1, misses: 0, bytesServed: 0, bytesFetched: 0 },
    ]);
    const points = await readSeries(store, "minute", new Set(["hub", "ghcr"]), now);
    assert.equal(points.length, 1440);
    assert.equal(points.at(-1)?.at, T0);
    assert.equal(points[0]?.at, T0 - SERIES_SPAN.minute + MINUTE_MS);
    assert.deepEqual(points.at(-1), {
      at: T0,
      hits: 3,
      misses: 1,
      bytesServed: 11,
      bytesFetched: 5,
      budgetRemaining: 40,
      budgetLimit: 60,
    });
    assert.equal(points.at(-2)?.hits, 1);
    assert.equal(points.at(-3)?.hits, 0);
    assert.equal(points.at(-3)?.budgetRemaining, null);
    const hours = await readSeries(store, "hour", new Set(["hub"]), now);
    assert.equal(hours.length, 720);
    assert.equal(hours.at(-1)?.hits, 2);
    assert.equal(hours.at(-2)?.hits, 1);
  });
});

describe("ActivityLog", () => {
  test("events are written in one batch; refused logins of a user in one minute become one event with a count", async () => {
    const clock = new ManualClock(T0);
    const store = new MemoryMetadataStore(clock);
    const log = new ActivityLog(store, silent, clock);
    log.record({ kind: "push", repo: "internal", name: "app", reference: "v1", user: "alice" });
    for (let i = 0; i < 5; i++) log.record({ kind: "login-refused", user: "mallory", detail: "basic" });
    log.record({ kind: "login-refused", user: "eve", detail: "basic" });
    clock.advance(MINUTE_MS);
    log.record({ kind: "login-refused", user: "mallory", detail: "basic" });
    assert.equal((await store.listActivity({ limit: 10 })).length, 0, "nothing written before the flush");
    await log.flush();
    const events = await store.listActivity({ limit: 10 });
    assert.deepEqual(
      events.map((e) => [e.kind, e.user, e.count]),
      [
        ["login-refused", "mallory", 1],
        ["login-refused", "eve", 1],
        ["login-refused", "mallory", 5],
        ["push", "alice", 1],
      ],
    );
  });
});
