import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Lru } from "../../src/util/lru.js";

const keys = (lru: Lru<string, number>, candidates: readonly string[]) =>
  candidates.filter((k) => lru.has(k));

/** Three entries, `a` set first: the least recent. */
function abc(): Lru<string, number> {
  const lru = new Lru<string, number>({ maxEntries: 3 });
  lru.set("a", 1);
  lru.set("b", 2);
  lru.set("c", 3);
  return lru;
}

describe("Lru", () => {
  test("the least recently used entry goes first, reads counting as use", () => {
    const lru = abc();
    assert.equal(lru.get("a"), 1);
    lru.set("d", 4);
    assert.deepEqual(keys(lru, ["a", "b", "c", "d"]), ["a", "c", "d"]);
  });

  test("reading the newest entry again and again keeps the order of the others", () => {
    const lru = abc();
    for (let i = 0; i < 5; i++) assert.equal(lru.get("c"), 3);
    lru.set("d", 4);
    assert.deepEqual(keys(lru, ["a", "b", "c", "d"]), ["b", "c", "d"]);
  });

  test("a newest entry deleted and set again is the newest once more", () => {
    const lru = new Lru<string, number>({ maxEntries: 2 });
    lru.set("a", 1);
    lru.set("b", 2);
    lru.delete("b");
    assert.equal(lru.get("b"), undefined);
    lru.set("b", 3);
    assert.equal(lru.get("a"), 1);
    assert.equal(lru.get("b"), 3);
    lru.set("c", 4);
    assert.deepEqual(keys(lru, ["a", "b", "c"]), ["b", "c"]);
  });

  test("an undefined value is held, and read as held", () => {
    const lru = new Lru<string, number | undefined>({ maxEntries: 2 });
    lru.set("none", undefined);
    assert.equal(lru.has("none"), true);
    assert.equal(lru.get("none"), undefined);
    lru.set("x", 1);
    lru.get("none");
    lru.set("y", 2);
    assert.equal(lru.has("none"), true, "the read made it recent");
    assert.equal(lru.has("x"), false);
  });

  test("entries that weigh more than the bound push the least recent out", () => {
    const lru = new Lru<string, Buffer>({ maxEntries: 10, maxWeight: 10, weigh: (b) => b.byteLength });
    lru.set("a", Buffer.alloc(4));
    lru.set("b", Buffer.alloc(4));
    lru.get("a");
    lru.set("c", Buffer.alloc(4));
    assert.deepEqual(
      ["a", "b", "c"].filter((k) => lru.has(k)),
      ["a", "c"],
    );
    lru.set("huge", Buffer.alloc(11));
    assert.equal(lru.has("huge"), false, "heavier than the whole bound: not kept");
  });
});
