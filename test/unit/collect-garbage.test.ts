import assert from "node:assert/strict";
import { test } from "node:test";
import { collectGarbage, readLeftGarbage } from "../../src/util/collect-garbage.js";

test("collectGarbage frees what nothing holds any more, without --expose-gc", async () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined", "the test runs without the flag");
  let held: number[] | undefined = Array.from({ length: 100_000 }, (_, i) => i);
  const weak = new WeakRef(held);
  held = undefined;
  await collectGarbage();
  assert.equal(weak.deref(), undefined);
});

test("readLeftGarbage collects once the rows of bulk reads add up, not after every small read", async () => {
  assert.equal(readLeftGarbage(1_000), undefined, "a small read is not worth a collection");
  let held: number[] | undefined = Array.from({ length: 100_000 }, (_, i) => i);
  const weak = new WeakRef(held);
  held = undefined;
  const due = readLeftGarbage(99_000);
  assert.ok(due, "the rows added up to a collection");
  await due;
  assert.equal(weak.deref(), undefined);
  assert.equal(readLeftGarbage(1_000), undefined, "the count starts again after a collection");
});
