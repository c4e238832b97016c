import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LocalInFlight } from "../../src/coordination/in-flight.js";
import { LocalInvalidations } from "../../src/coordination/invalidation.js";
import { LocalTurn } from "../../src/coordination/turn.js";
import { LocalUploadLock } from "../../src/coordination/upload-lock.js";
import { LocalUpstreamState } from "../../src/coordination/upstream-state.js";
import {
  invalidationsConformance,
  type Note,
  turnConformance,
  uploadLockConformance,
  upstreamStateConformance,
} from "../suites/coordination.suite.js";

/** A download the test ends by hand. */
function download(label: string): { label: string; done: Promise<void>; end(): void } {
  let end = () => {};
  const done = new Promise<void>((resolve) => {
    end = resolve;
  });
  return { label, done, end };
}

type TestDownload = ReturnType<typeof download>;

describe("LocalInFlight", () => {
  test("callers of one key in the same tick share one start; each key has its own", async () => {
    const inFlight = new LocalInFlight<TestDownload>();
    const starts: string[] = [];
    const start = (label: string) => async () => {
      starts.push(label);
      return download(label);
    };
    const use = (d: TestDownload, started: boolean) => `${d.label}:${started}`;
    const results = await Promise.all([
      inFlight.join("a", start("a1"), use),
      inFlight.join("a", start("a2"), use),
      inFlight.join("b", start("b1"), use),
    ]);
    assert.deepEqual(results, ["a1:true", "a1:false", "b1:true"]);
    assert.deepEqual(starts, ["a1", "b1"]);
    assert.equal(inFlight.size, 2);
  });

  test("a key is free again once its download is done, not before", async () => {
    const inFlight = new LocalInFlight<TestDownload>();
    const first = download("first");
    await inFlight.join(
      "k",
      async () => first,
      () => true,
    );
    assert.equal(
      await inFlight.join(
        "k",
        async () => download("second"),
        (d) => d.label,
      ),
      "first",
    );
    first.end();
    await first.done;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(inFlight.size, 0);
    assert.equal(
      await inFlight.join(
        "k",
        async () => download("third"),
        (d) => d.label,
      ),
      "third",
    );
  });

  test("callers that cannot use the running download start one new download together", async () => {
    const inFlight = new LocalInFlight<TestDownload>();
    const unusable = download("unusable");
    await inFlight.join(
      "k",
      async () => unusable,
      () => true,
    );
    let starts = 0;
    const results = await Promise.all(
      Array.from({ length: 3 }, () =>
        inFlight.join(
          "k",
          async () => download(`new ${++starts}`),
          (d) => (d === unusable ? undefined : d.label),
        ),
      ),
    );
    assert.deepEqual(results, ["new 1", "new 1", "new 1"]);
    assert.equal(starts, 1);
  });

  test("a failed start reaches every caller waiting for it, and is forgotten", async () => {
    const inFlight = new LocalInFlight<TestDownload>();
    const refusal = new Error("429");
    const failing = async (): Promise<TestDownload> => {
      throw refusal;
    };
    const joins = [inFlight.join("k", failing, () => 1), inFlight.join("k", failing, () => 2)];
    for (const joined of joins) await assert.rejects(joined, (error) => error === refusal);
    assert.equal(inFlight.size, 0);
  });
});

describe("LocalUploadLock", () => {
  test("one holder per id; released, it can be taken again; release is idempotent", async () => {
    const lock = new LocalUploadLock();
    const lease = await lock.tryLock("a");
    assert.ok(lease);
    assert.equal(await lock.tryLock("a"), undefined);
    const other = await lock.tryLock("b");
    assert.ok(other);
    await lease.release();
    await lease.release();
    const again = await lock.tryLock("a");
    assert.ok(again);
    assert.equal(await lock.tryLock("a"), undefined, "a second release freed the new holder's lock");
    await again.release();
    await other.release();
  });
});

const local =
  <T>(make: () => T) =>
  async () => {
    const shared = make();
    return [shared, shared] as const;
  };
upstreamStateConformance("local", (clock) => local(() => new LocalUpstreamState(clock))());
uploadLockConformance(
  "local",
  local(() => new LocalUploadLock()),
);
turnConformance(
  "local",
  local(() => new LocalTurn()),
  false,
);
/** One process: every topic's invalidations are one object per cache; both "nodes" share it. */
const topics = new Map<string, LocalInvalidations<Note>>();
invalidationsConformance("local", async (topic) => {
  const shared = topics.get(topic) ?? new LocalInvalidations<Note>();
  topics.set(topic, shared);
  return [shared, shared] as const;
});
