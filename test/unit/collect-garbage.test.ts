import assert from "node:assert/strict";
import { test } from "node:test";
import { collectGarbage } from "../../src/util/collect-garbage.js";

test("collectGarbage frees what nothing holds any more, without --expose-gc", async () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined", "the test runs without the flag");
  let held: number[] | undefined = Array.from({ length: 100_000 }, (_, i) => i);
  const weak = new WeakRef(held);
  held = undefined;
  await collectGarbage();
  assert.equal(weak.deref(), undefined);
});
