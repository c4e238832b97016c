import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SingleFlight } from "../../src/util/single-flight.js";

/** A promise the test settles by hand. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("SingleFlight", () => {
  test("callers of one key while it runs share one run and its result", async () => {
    const flight = new SingleFlight<string>();
    const gate = deferred<string>();
    let runs = 0;
    const work = () => {
      runs += 1;
      return gate.promise;
    };
    const calls = [flight.run("k", work), flight.run("k", work), flight.run("k", work)];
    assert.equal(runs, 1);
    assert.equal(flight.size, 1);
    gate.resolve("token");
    assert.deepEqual(await Promise.all(calls), ["token", "token", "token"]);
    assert.equal(flight.size, 0);
  });

  test("different keys run separately", async () => {
    const flight = new SingleFlight<string>();
    const [a, b] = await Promise.all([flight.run("a", async () => "A"), flight.run("b", async () => "B")]);
    assert.deepEqual([a, b], ["A", "B"]);
  });

  test("a failure reaches every caller and is not remembered", async () => {
    const flight = new SingleFlight<string>();
    const gate = deferred<string>();
    const failure = new Error("token service down");
    const calls = [flight.run("k", () => gate.promise), flight.run("k", () => gate.promise)];
    gate.reject(failure);
    for (const call of calls) await assert.rejects(call, (error) => error === failure);
    assert.equal(flight.size, 0);
    assert.equal(await flight.run("k", async () => "recovered"), "recovered");
  });

  test("a key settled is run again by the next caller", async () => {
    const flight = new SingleFlight<number>();
    let runs = 0;
    const work = async () => ++runs;
    assert.equal(await flight.run("k", work), 1);
    assert.equal(await flight.run("k", work), 2);
    assert.equal(flight.size, 0);
  });
});
