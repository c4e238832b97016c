import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { MetadataStore } from "../../src/meta/metadata-store.js";
import { HOUR_MS, MINUTE_MS, type SeriesSample } from "../../src/meta/ops-records.js";

const T0 = Date.parse("2024-06-01T10:00:00Z");

function sample(at: number, repo: string, fields: Partial<SeriesSample> = {}): SeriesSample {
  return { at, repo, hits: 1, misses: 0, bytesServed: 100, bytesFetched: 0, ...fields };
}

/**
 * What every MetadataStore keeps for the operator (OpsRecords): the time series and the activity
 * log. Run with a factory that gives a fresh, empty store.
 */
export function opsRecordsConformance(
  name: string,
  factory: () => MetadataStore | Promise<MetadataStore>,
): void {
  const withStore = (body: (store: MetadataStore) => Promise<void>) => async () => {
    const store = await factory();
    try {
      await body(store);
    } finally {
      await store.close();
    }
  };

  describe(`${name}: OpsRecords conformance`, () => {
    test(
      "minutes are kept as recorded, and add up into their hour; the budget keeps its lowest and highest",
      withStore(async (store) => {
        await store.recordSamples([
          sample(T0, "hub", {
            hits: 3,
            misses: 1,
            bytesServed: 300,
            bytesFetched: 50,
            budgetRemaining: 90,
            budgetLimit: 100,
          }),
          sample(T0, "internal"),
          sample(T0 + MINUTE_MS, "hub", { hits: 2, budgetRemaining: 80, budgetLimit: 100 }),
        ]);
        await store.recordSamples([sample(T0 + 2 * MINUTE_MS, "hub", { hits: 5 })]);
        const minutes = await store.listSamples("minute", T0);
        assert.deepEqual(
          minutes.map((s) => [s.at - T0, s.repo, s.hits]),
          [
            [0, "hub", 3],
            [0, "internal", 1],
            [MINUTE_MS, "hub", 2],
            [2 * MINUTE_MS, "hub", 5],
          ],
        );
        assert.equal(minutes[3]?.budgetRemaining, undefined);
        const hours = await store.listSamples("hour", T0);
        assert.deepEqual(hours, [
          {
            at: T0,
            repo: "hub",
            hits: 10,
            misses: 1,
            bytesServed: 500,
            bytesFetched: 50,
            budgetRemaining: 80,
            budgetLimit: 100,
          },
          { at: T0, repo: "internal", hits: 1, misses: 0, bytesServed: 100, bytesFetched: 0 },
        ]);
      }),
    );

    test(
      "a minute recorded twice adds up; listing starts where asked",
      withStore(async (store) => {
        await store.recordSamples([sample(T0, "hub")]);
        await store.recordSamples([sample(T0, "hub", { hits: 4 }), sample(T0 + HOUR_MS, "hub")]);
        assert.equal((await store.listSamples("minute", T0))[0]?.hits, 5);
        assert.deepEqual(
          (await store.listSamples("hour", T0 + 1)).map((s) => s.at - T0),
          [HOUR_MS],
        );
      }),
    );

    test(
      "trimming forgets minutes and hours before their limits",
      withStore(async (store) => {
        await store.recordSamples([sample(T0, "hub"), sample(T0 + HOUR_MS + MINUTE_MS, "hub")]);
        await store.trimSamples(T0 + HOUR_MS, T0 + 1);
        assert.deepEqual(
          (await store.listSamples("minute", 0)).map((s) => s.at - T0),
          [HOUR_MS + MINUTE_MS],
        );
        assert.deepEqual(
          (await store.listSamples("hour", 0)).map((s) => s.at - T0),
          [HOUR_MS],
        );
      }),
    );

    test(
      "activity: newest first, paged by id, per repository, trimmed to the newest",
      withStore(async (store) => {
        await store.appendActivity([
          { at: T0, kind: "push", repo: "internal", name: "app", reference: "v1", user: "alice", count: 1 },
          { at: T0 + 1, kind: "login-refused", user: "mallory", count: 3, detail: "basic" },
          { at: T0 + 2, kind: "eviction", repo: "hub", name: "library/busybox", bytes: 1234, count: 1 },
        ]);
        const all = await store.listActivity({ limit: 10 });
        assert.deepEqual(
          all.map((e) => e.kind),
          ["eviction", "login-refused", "push"],
        );
        assert.ok((all[0]?.id ?? 0) > (all[1]?.id ?? 0));
        assert.deepEqual(all[2], {
          id: all[2]?.id,
          at: T0,
          kind: "push",
          repo: "internal",
          name: "app",
          reference: "v1",
          user: "alice",
          count: 1,
        });
        assert.equal(all[0]?.bytes, 1234);
        assert.equal(all[1]?.detail, "basic");
        assert.deepEqual(
          (await store.listActivity({ limit: 1, before: all[0]?.id })).map((e) => e.kind),
          ["login-refused"],
        );
        assert.deepEqual(
          (await store.listActivity({ limit: 10, repo: "internal" })).map((e) => e.name),
          ["app"],
        );
        await store.trimActivity(2);
        assert.deepEqual(
          (await store.listActivity({ limit: 10 })).map((e) => e.kind),
          ["eviction", "login-refused"],
        );
        await store.trimActivity(5);
        assert.equal((await store.listActivity({ limit: 10 })).length, 2);
      }),
    );

    test(
      "records survive in the store like the rest of its metadata and stay out of a rolled-back transaction",
      withStore(async (store) => {
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.appendActivity([{ at: T0, kind: "delete", repo: "internal", name: "x", count: 1 }]);
            throw new Error("planned");
          }),
        );
        assert.equal((await store.listActivity({ limit: 10 })).length, 0);
      }),
    );
  });
}
