// The contracts of src/coordination/, run against this process's implementations
// (test/unit/coordination.test.ts) and the cluster's on PostgreSQL
// (test/integration/postgres-coordination.test.ts). A factory gives two views of one shared
// state, as two nodes see it: in one process both are the same object.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Invalidations } from "../../src/coordination/invalidation.js";
import type { Turn } from "../../src/coordination/turn.js";
import type { UploadLock } from "../../src/coordination/upload-lock.js";
import type { UpstreamState } from "../../src/coordination/upstream-state.js";
import { ManualClock } from "../fakes/manual-clock.js";

/** Two nodes' views of one shared thing, over `clock`. */
export type Pair<T> = (clock: ManualClock) => Promise<readonly [T, T]>;

export function upstreamStateConformance(label: string, pair: Pair<UpstreamState>): void {
  describe(`${label}: UpstreamState`, () => {
    test("a back-off one node starts holds the other's counted requests until it ends", async () => {
      const clock = new ManualClock();
      const [one, other] = await pair(clock);
      assert.equal(await other.backoffRemaining(), 0);
      assert.equal(await one.backOff(30, "429 from upstream"), true, "the first back-off is news");
      assert.equal(await other.backoffRemaining(), 30);
      assert.equal(await other.backOff(5, "again"), false, "one was running: no news");
      clock.advance(10_000);
      assert.equal(await other.backoffRemaining(), 20, "a shorter back-off never cuts a running one short");
      const snapshot = await other.snapshot();
      assert.equal(snapshot.backoffUntil, new Date(clock.now() + 20_000).toISOString());
      assert.equal(snapshot.backoffReason, "again");
      clock.advance(20_000);
      assert.equal(await one.backoffRemaining(), 0);
      assert.equal((await one.snapshot()).backoffUntil, undefined, "an ended back-off is not shown");
      assert.equal(await one.backOff(10 ** 9, "absurd"), true);
      assert.equal(await other.backoffRemaining(), 86_400, "a day at most");
    });

    test("a budget either node records is the other's; a change is news once", async () => {
      const clock = new ManualClock();
      const [one, other] = await pair(clock);
      assert.deepEqual(await one.snapshot(), {});
      assert.equal(
        await one.recordBudget({ limit: 100, remaining: 76, windowSeconds: 21600, source: "1.2.3.4" }),
        true,
      );
      assert.equal(await other.recordBudget({ limit: 100, remaining: 76 }), false);
      assert.equal(await other.recordBudget({ limit: 100, remaining: 75 }), true);
      assert.deepEqual(await one.snapshot(), {
        limit: 100,
        remaining: 75,
        windowSeconds: 21600,
        source: "1.2.3.4",
        observedAt: new Date(clock.now()).toISOString(),
      });
    });
  });
}

export function uploadLockConformance(label: string, pair: Pair<UploadLock>): void {
  describe(`${label}: UploadLock`, () => {
    test("one holder per session across nodes; released, any node takes it; release is idempotent", async () => {
      const [one, other] = await pair(new ManualClock());
      const lease = await one.tryLock("a");
      assert.ok(lease);
      assert.equal(await other.tryLock("a"), undefined);
      assert.equal(await one.tryLock("a"), undefined);
      const b = await other.tryLock("b");
      assert.ok(b);
      await lease.release();
      await lease.release();
      const again = await other.tryLock("a");
      assert.ok(again);
      assert.equal(await one.tryLock("a"), undefined, "a second release freed the new holder's lock");
      await again.release();
      await b.release();
    });

    test("of many nodes trying at once, exactly one gets the lock", async () => {
      const [one, other] = await pair(new ManualClock());
      const leases = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? one : other).tryLock("contended")),
      );
      const held = leases.filter((lease) => lease !== undefined);
      assert.equal(held.length, 1);
      await held[0]?.release();
    });
  });
}

export function turnConformance(label: string, pair: Pair<Turn>, exclusive: boolean): void {
  describe(`${label}: Turn`, () => {
    test(
      exclusive
        ? "while one node runs its turn the other's is skipped; afterwards it runs"
        : "in one process every turn runs (the caller takes turns itself)",
      async () => {
        const [one, other] = await pair(new ManualClock());
        let release = () => {};
        const running = one.ifAlone(() => new Promise<void>((resolve) => (release = resolve)));
        await new Promise((resolve) => setTimeout(resolve, 20));
        let ran = false;
        const second = other.ifAlone(async () => {
          ran = true;
        });
        if (exclusive) assert.equal(await second, false);
        release();
        assert.equal(await running, true);
        if (!exclusive) assert.equal(await second, true);
        assert.equal(ran, !exclusive);
        assert.equal(await other.ifAlone(async () => {}), true);
      },
    );
  });
}

/** Two nodes' invalidations of `topic` (created on each node at once, as every node does at start). */
export type InvalidationsPair = (
  topic: string,
) => Promise<readonly [Invalidations<Note>, Invalidations<Note>]>;

/** What the suite's changes are; `everything` is what a listener hears when changes may have been missed. */
export type Note = { readonly scope: string } | { readonly everything: true };

export function invalidationsConformance(label: string, pair: InvalidationsPair): void {
  describe(`${label}: Invalidations`, () => {
    test("a published change reaches the subscribers of its topic on either node, and no other topic's", async () => {
      const [one, other] = await pair("t1");
      const [, elsewhere] = await pair("t2");
      const heard: string[] = [];
      other.subscribe((change) => heard.push(`other ${JSON.stringify(change)}`));
      const unsubscribe = one.subscribe((change) => heard.push(`one ${JSON.stringify(change)}`));
      elsewhere.subscribe((change) => heard.push(`t2 ${JSON.stringify(change)}`));
      one.publish({ scope: "hub\nlibrary/busybox" });
      for (let waited = 0; heard.length < 2 && waited < 2000; waited += 10)
        await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(heard.sort(), [
        'one {"scope":"hub\\nlibrary/busybox"}',
        'other {"scope":"hub\\nlibrary/busybox"}',
      ]);
      unsubscribe();
      other.publish({ everything: true });
      for (let waited = 0; heard.length < 3 && waited < 2000; waited += 10)
        await new Promise((resolve) => setTimeout(resolve, 10));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(
        heard.slice(2),
        ['other {"everything":true}'],
        "an unsubscribed listener hears nothing",
      );
    });
  });
}
