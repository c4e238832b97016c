import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Slots } from "../../src/util/slots.js";

/** A task that runs until its test says so, recording when it started. */
function gate(started: number[], id: number) {
  let open!: () => void;
  let fail!: (error: Error) => void;
  const done = new Promise<number>((resolve, reject) => {
    open = () => resolve(id);
    fail = reject;
  });
  return {
    task: () => {
      started.push(id);
      return done;
    },
    open,
    fail,
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("Slots", () => {
  test("runs at most `size` tasks at once, the rest in arrival order", async () => {
    const slots = new Slots(2);
    const started: number[] = [];
    const gates = [1, 2, 3, 4, 5].map((id) => gate(started, id));
    const results = gates.map((g) => slots.run(g.task));
    await settle();
    assert.deepEqual(started, [1, 2]);
    assert.equal(slots.waiting, 3);
    gates[1]?.open();
    await settle();
    assert.deepEqual(started, [1, 2, 3], "a finished task hands its slot to the first waiter");
    gates[0]?.open();
    gates[2]?.open();
    await settle();
    assert.deepEqual(started, [1, 2, 3, 4, 5]);
    gates[3]?.open();
    gates[4]?.open();
    assert.deepEqual(await Promise.all(results), [1, 2, 3, 4, 5]);
    assert.equal(slots.waiting, 0);
  });

  test("a failing task gives its slot back and its caller gets the error", async () => {
    const slots = new Slots(1);
    const started: number[] = [];
    const first = gate(started, 1);
    const second = gate(started, 2);
    const failing = slots.run(first.task);
    const next = slots.run(second.task);
    first.fail(new Error("hash failed"));
    await assert.rejects(failing, /hash failed/);
    await settle();
    assert.deepEqual(started, [1, 2]);
    second.open();
    assert.equal(await next, 2);
  });

  test("after a burst, the slots are free again", async () => {
    const slots = new Slots(2);
    await Promise.all(Array.from({ length: 10 }, (_, i) => slots.run(async () => i)));
    const started: number[] = [];
    const a = gate(started, 1);
    const b = gate(started, 2);
    const runs = [slots.run(a.task), slots.run(b.task)];
    await settle();
    assert.deepEqual(started, [1, 2], "both start at once: no slot was lost");
    a.open();
    b.open();
    await Promise.all(runs);
  });
});
