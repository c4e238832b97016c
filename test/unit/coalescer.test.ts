import assert from "node:assert/strict";
import type { PassThrough } from "node:stream";
import { describe, type TestContext, test } from "node:test";
import { LocalIngestGuard } from "../../src/coordination/ingest-guard.js";
import type { ByteRange } from "../../src/store/blob-store.js";
import { Coalescer, type Joined } from "../../src/store/coalescer.js";
import type { BlobFill, FillEvents, FillSource } from "../../src/store/fill.js";
import type { Spool } from "../../src/store/spool.js";
import { DigestMismatchError } from "../../src/util/errors.js";
import {
  assertStored,
  chunksOf,
  collect,
  manualSource,
  parsedDigestOf,
  pseudoRandomBytes,
  STORE_KINDS,
  type StoreFixture,
  storeFixture,
  UncreatableSpool,
  until,
} from "./store-helpers.js";

const BLOB = pseudoRandomBytes(200_000, 3);
const DIGEST = parsedDigestOf(BLOB);
const KEY = `docker-hub\nlibrary/busybox\n${DIGEST.digest}`;

/** An upstream that answers when the test says so, counting how often it was asked. */
class Upstream {
  opens = 0;
  readonly #pending: Array<{ resolve: (source: FillSource) => void; reject: (error: Error) => void }> = [];

  readonly open = (): Promise<FillSource> => {
    this.opens += 1;
    return new Promise<FillSource>((resolve, reject) => this.#pending.push({ resolve, reject }));
  };

  #next(): { resolve: (source: FillSource) => void; reject: (error: Error) => void } {
    const pending = this.#pending.shift();
    assert.ok(pending, "no request is waiting for an answer");
    return pending;
  }

  /** Answers the oldest pending request with a body the test feeds; returns the body. */
  answer(size: number | undefined = BLOB.byteLength): PassThrough {
    const body = manualSource();
    this.#next().resolve({ size, body });
    return body;
  }

  refuse(error: Error): void {
    this.#next().reject(error);
  }
}

function join(
  coalescer: Coalescer,
  upstream: Upstream,
  options: {
    rangeFor?: (size: number | undefined) => ByteRange | undefined;
    events?: FillEvents & { onStart?(fill: BlobFill): void };
  } = {},
): Promise<Joined> {
  return coalescer.join(
    KEY,
    DIGEST,
    upstream.open,
    options.rangeFor ?? (() => undefined),
    options.events ?? {},
  );
}

function fillOf(joined: Joined): { fill: BlobFill; bytes: Promise<Buffer> } {
  if (joined.kind !== "fill") assert.fail(`expected to join a download, got ${joined.kind}`);
  return { fill: joined.fill, bytes: collect(joined.body.stream()) };
}

function feed(body: PassThrough, bytes: Buffer = BLOB): void {
  for (const chunk of chunksOf(bytes, 20_000)) body.write(chunk);
  body.end();
}

const uncreatable = (directory: string) => new UncreatableSpool(directory);

for (const kind of STORE_KINDS) {
  async function setup(
    t: TestContext,
    spoolFor?: (directory: string) => Spool,
  ): Promise<{ fixture: StoreFixture; coalescer: Coalescer; upstream: Upstream }> {
    const fixture = await storeFixture(t, { kind, ...(spoolFor ? { spoolFor } : {}) });
    return { fixture, coalescer: new Coalescer(fixture.store, fixture.spool), upstream: new Upstream() };
  }

  describe(`Coalescer.join (${kind} store)`, () => {
    test("concurrent joins for one key share one upstream request and one download", async (t) => {
      const { fixture, coalescer, upstream } = await setup(t);
      const joins = Array.from({ length: 5 }, () => join(coalescer, upstream));
      assert.equal(upstream.opens, 1);
      assert.equal(coalescer.inflight, 1);
      const body = upstream.answer();
      const joined = (await Promise.all(joins)).map(fillOf);
      const fills = new Set(joined.map((j) => j.fill));
      assert.equal(fills.size, 1);

      body.write(BLOB.subarray(0, 50_000));
      await until(() => (joined[0]?.fill.received ?? 0) > 0, "the download started");
      const late = fillOf(await join(coalescer, upstream));
      assert.equal(upstream.opens, 1, "a join during the download started another");
      assert.ok(fills.has(late.fill));
      feed(body, BLOB.subarray(50_000));

      for (const { bytes } of [...joined, late]) assert.ok((await bytes).equals(BLOB));
      await assertStored(fixture, BLOB);
      await until(() => coalescer.inflight === 0, "the finished download is forgotten");
    });

    test("an upstream refusal reaches every concurrent joiner, and the next join asks again", async (t) => {
      const { coalescer, upstream } = await setup(t);
      const joins = Array.from({ length: 3 }, () => join(coalescer, upstream));
      const refusal = new Error("429 Too Many Requests");
      upstream.refuse(refusal);
      for (const joined of joins) await assert.rejects(joined, (error) => error === refusal);
      assert.equal(upstream.opens, 1);
      await until(() => coalescer.inflight === 0, "the refusal is forgotten");

      const retry = join(coalescer, upstream);
      assert.equal(upstream.opens, 2);
      feed(upstream.answer());
      assert.ok((await fillOf(await retry).bytes).equals(BLOB));
    });

    test("after a download completes, a join reads the store or starts afresh, and gets the blob", async (t) => {
      const { fixture, coalescer, upstream } = await setup(t);
      const first = join(coalescer, upstream);
      feed(upstream.answer());
      const { fill, bytes } = fillOf(await first);
      assert.ok((await bytes).equals(BLOB));
      await fill.done;

      const again = join(coalescer, upstream);
      if (upstream.opens === 2) feed(upstream.answer());
      const joined = await again;
      if (joined.kind === "stored") {
        assert.equal(upstream.opens, 1);
        await assertStored(fixture, BLOB);
      } else {
        assert.equal(upstream.opens, 2);
        assert.notEqual(joined.fill, fill);
        assert.ok((await collect(joined.body.stream())).equals(BLOB));
      }
    });

    test("after a download fails, the next join starts afresh", async (t) => {
      const { fixture, coalescer, upstream } = await setup(t);
      const joining = join(coalescer, upstream);
      feed(upstream.answer(), pseudoRandomBytes(BLOB.byteLength, 9));
      const first = fillOf(await joining);
      await assert.rejects(first.bytes, DigestMismatchError);
      await assert.rejects(first.fill.done, DigestMismatchError);

      const retry = join(coalescer, upstream);
      assert.equal(upstream.opens, 2);
      feed(upstream.answer());
      assert.ok((await fillOf(await retry).bytes).equals(BLOB));
      await assertStored(fixture, BLOB);
    });

    test("rangeFor gets the announced size and picks each joiner's bytes", async (t) => {
      const { coalescer, upstream } = await setup(t);
      const sizes: Array<number | undefined> = [];
      const ranges: ByteRange[] = [
        { start: 0, end: 9 },
        { start: 100_000, end: 199_999 },
      ];
      const joins = ranges.map((range) =>
        join(coalescer, upstream, {
          rangeFor: (size) => {
            sizes.push(size);
            return range;
          },
        }),
      );
      feed(upstream.answer());
      const results = await Promise.all(joins);
      assert.deepEqual(sizes, [BLOB.byteLength, BLOB.byteLength]);
      for (const [index, joined] of results.entries()) {
        const range = ranges[index] as ByteRange;
        assert.ok((await fillOf(joined).bytes).equals(BLOB.subarray(range.start, range.end + 1)));
      }
    });

    test("when the starter's rangeFor throws, its join fails but the download completes and is stored", async (t) => {
      const { fixture, coalescer, upstream } = await setup(t);
      const started: BlobFill[] = [];
      const unsatisfiable = new Error("416 range not satisfiable");
      const joined = join(coalescer, upstream, {
        rangeFor: () => {
          throw unsatisfiable;
        },
        events: { onStart: (fill) => started.push(fill) },
      });
      feed(upstream.answer());
      await assert.rejects(joined, (error) => error === unsatisfiable);
      assert.equal(started.length, 1);
      assert.deepEqual(await started[0]?.done, { stored: true });
      await assertStored(fixture, BLOB);
    });

    test("onStart runs once, for the join that started the download", async (t) => {
      const { coalescer, upstream } = await setup(t);
      const starts: string[] = [];
      const joins = ["first", "second", "third"].map((who) =>
        join(coalescer, upstream, { events: { onStart: () => starts.push(who) } }),
      );
      feed(upstream.answer());
      for (const joined of await Promise.all(joins)) await fillOf(joined).bytes;
      assert.deepEqual(starts, ["first"]);
    });

    test("different keys are different downloads", async (t) => {
      const { coalescer, upstream } = await setup(t);
      const other = pseudoRandomBytes(1000, 5);
      const a = join(coalescer, upstream);
      const b = coalescer.join("other key", parsedDigestOf(other), upstream.open, () => undefined, {});
      assert.equal(upstream.opens, 2);
      assert.equal(coalescer.inflight, 2);
      feed(upstream.answer());
      feed(upstream.answer(other.byteLength), other);
      assert.ok((await fillOf(await a).bytes).equals(BLOB));
      assert.ok((await fillOf(await b).bytes).equals(other));
    });

    test("when the spool cannot be created, every joiner still gets exact bytes and nothing is stored", async (t) => {
      const { fixture, coalescer, upstream } = await setup(t, uncreatable);
      const spoolFailures: unknown[] = [];
      const events = { onSpoolFailure: (error: unknown) => spoolFailures.push(error) };
      const joins = [join(coalescer, upstream, { events }), join(coalescer, upstream, { events })];
      feed(upstream.answer());
      const joined = (await Promise.all(joins)).map(fillOf);
      for (const { bytes } of joined) assert.ok((await bytes).equals(BLOB));
      assert.deepEqual(await joined[0]?.fill.done, { stored: false });
      assert.equal(spoolFailures.length, 1);
      assert.equal(await fixture.store.stat(DIGEST.digest), undefined);
    });

    test("joins arriving together while a download cannot be joined start one new download, not one each", async (t) => {
      // A pass-through download drops bytes its readers have passed, so a newcomer cannot start at 0.
      const { coalescer, upstream } = await setup(t, uncreatable);
      const events = { onSpoolFailure: () => {} };
      const first = join(coalescer, upstream, { events });
      const firstBody = upstream.answer();
      const { fill, bytes } = fillOf(await first);
      firstBody.write(BLOB.subarray(0, 50_000));
      await until(() => !fill.joinable, "the first download dropped its first bytes");

      const newcomers = Array.from({ length: 3 }, () => join(coalescer, upstream, { events }));
      await until(() => upstream.opens > 1, "a newcomer asked upstream");
      const opens = upstream.opens;
      for (let pending = opens - 1; pending > 0; pending--) feed(upstream.answer());
      feed(firstBody, BLOB.subarray(50_000));
      assert.ok((await bytes).equals(BLOB));
      for (const joined of await Promise.all(newcomers)) assert.ok((await fillOf(joined).bytes).equals(BLOB));
      assert.equal(opens, 2, `${opens - 1} upstream requests for 3 simultaneous newcomers`);
    });
  });

  describe(`Coalescer: the ingest guard and what it tells its observer (${kind} store)`, () => {
    test("a download holds its digest until it settled: no removal of the file runs meanwhile", async (t) => {
      const fixture = await storeFixture(t, { kind });
      const ingests = new LocalIngestGuard();
      const coalescer = new Coalescer(fixture.store, fixture.spool, { ingests });
      const upstream = new Upstream();
      const joining = join(coalescer, upstream);
      const body = upstream.answer();
      const { fill, bytes } = fillOf(await joining);
      assert.equal(
        await ingests.remove(DIGEST.digest, async () => assert.fail("removed while downloading")),
        false,
      );
      feed(body);
      assert.ok((await bytes).equals(BLOB));
      await fill.done;
      await until(() => ingests.ingesting === 0, "the hold ends with the download");
      assert.equal(await ingests.remove(DIGEST.digest, async () => {}), true);
    });

    test("a download that starts during a removal of its digest is created only after it", async (t) => {
      const fixture = await storeFixture(t, { kind });
      const ingests = new LocalIngestGuard();
      const coalescer = new Coalescer(fixture.store, fixture.spool, { ingests });
      const upstream = new Upstream();
      let finishRemoval = () => {};
      const removal = ingests.remove(
        DIGEST.digest,
        () =>
          new Promise<void>((resolve) => {
            finishRemoval = resolve;
          }),
      );
      let joined = false;
      const joining = join(coalescer, upstream).then((result) => {
        joined = true;
        return result;
      });
      assert.equal(upstream.opens, 1, "the upstream is asked at once");
      const body = upstream.answer();
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(joined, false, "the download began before the removal ended");
      finishRemoval();
      await removal;
      feed(body);
      assert.ok((await fillOf(await joining).bytes).equals(BLOB));
    });

    test("joined requests, waiters, stored bytes and a spool failure reach the observer", async (t) => {
      const seen = { joined: 0, stored: [] as number[], spoolFailures: 0 };
      const observer = {
        joined: () => seen.joined++,
        stored: (bytes: number) => seen.stored.push(bytes),
        spoolFailed: () => seen.spoolFailures++,
      };
      const fixture = await storeFixture(t, { kind });
      const coalescer = new Coalescer(fixture.store, fixture.spool, { observer });
      const upstream = new Upstream();
      const first = join(coalescer, upstream);
      const body = upstream.answer();
      const starter = fillOf(await first);
      const followers = [await join(coalescer, upstream), await join(coalescer, upstream)];
      assert.equal(seen.joined, 2);
      assert.equal(coalescer.waiters, 2);
      const followed = followers.map(fillOf);
      feed(body);
      for (const { bytes } of [starter, ...followed]) assert.ok((await bytes).equals(BLOB));
      for (const follower of followers) if (follower.kind === "fill") follower.body.release();
      assert.equal(coalescer.waiters, 0);
      await starter.fill.done;
      await until(() => seen.stored.length === 1, "the stored download is reported");
      assert.deepEqual(seen.stored, [BLOB.byteLength]);

      const full = await storeFixture(t, { kind, spoolFor: uncreatable });
      const failing = new Coalescer(full.store, full.spool, { observer });
      const again = join(failing, upstream, { events: { onSpoolFailure: () => {} } });
      feed(upstream.answer());
      assert.ok((await fillOf(await again).bytes).equals(BLOB));
      assert.equal(seen.spoolFailures, 1);
      assert.deepEqual(
        seen.stored,
        [BLOB.byteLength],
        "a download that was not stored is not reported as stored",
      );
    });
  });
}
