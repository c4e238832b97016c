// The ingest guard: a removal never runs while an ingest of the same digest does, an ingest that
// arrives during a removal waits for it, and other digests are never held up.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ingesting, LocalIngestGuard } from "../../src/coordination/ingest-guard.js";

/** A promise and the function that settles it. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("LocalIngestGuard", () => {
  test("a removal is refused while an ingest of its digest runs, and allowed once it ended", async () => {
    const guard = new LocalIngestGuard();
    const linked = latch();
    const ingest = ingesting(guard, "sha256:a", () => linked.promise);
    let ran = false;
    assert.equal(
      await guard.remove("sha256:a", async () => {
        ran = true;
      }),
      false,
    );
    assert.equal(ran, false);
    assert.equal(guard.ingesting, 1);
    linked.open();
    await ingest;
    assert.equal(guard.ingesting, 0);
    assert.equal(
      await guard.remove("sha256:a", async () => {
        ran = true;
      }),
      true,
    );
    assert.equal(ran, true);
  });

  test("an ingest that begins during a removal starts only after it", async () => {
    const guard = new LocalIngestGuard();
    const events: string[] = [];
    const deleting = latch();
    const removal = guard.remove("sha256:a", async () => {
      events.push("remove starts");
      await deleting.promise;
      events.push("remove ends");
    });
    const ingest = ingesting(guard, "sha256:a", async () => {
      events.push("ingest");
      return 42;
    });
    await turn();
    assert.deepEqual(events, ["remove starts"]);
    deleting.open();
    assert.equal(await removal, true);
    assert.equal(await ingest, 42);
    assert.deepEqual(events, ["remove starts", "remove ends", "ingest"]);
  });

  test("ingests of one digest run side by side and nest; removals of one digest take turns", async () => {
    const guard = new LocalIngestGuard();
    const order: string[] = [];
    const nested = await ingesting(guard, "sha256:a", () =>
      ingesting(guard, "sha256:a", async () => {
        order.push("inner");
        return "nested";
      }),
    );
    assert.equal(nested, "nested");
    const first = latch();
    const one = guard.remove("sha256:b", async () => {
      order.push("first starts");
      await first.promise;
      order.push("first ends");
    });
    const two = guard.remove("sha256:b", async () => {
      order.push("second");
    });
    await turn();
    first.open();
    assert.deepEqual(await Promise.all([one, two]), [true, true]);
    assert.deepEqual(order, ["inner", "first starts", "first ends", "second"]);
  });

  test("other digests are never held up", async () => {
    const guard = new LocalIngestGuard();
    const held = latch();
    const ingest = ingesting(guard, "sha256:a", () => held.promise);
    assert.equal(await guard.remove("sha256:b", async () => {}), true);
    assert.equal(await ingesting(guard, "sha256:c", async () => "c"), "c");
    held.open();
    await ingest;
  });

  test("a failing ingest or removal releases its digest and rejects with its error", async () => {
    const guard = new LocalIngestGuard();
    await assert.rejects(
      ingesting(guard, "sha256:a", async () => {
        throw new Error("link failed");
      }),
      /link failed/,
    );
    await assert.rejects(
      guard.remove("sha256:a", async () => {
        throw new Error("unlink failed");
      }),
      /unlink failed/,
    );
    assert.equal(guard.ingesting, 0);
    assert.equal(await guard.remove("sha256:a", async () => {}), true);
    assert.equal(await ingesting(guard, "sha256:a", async () => "after"), "after");
  });
});
