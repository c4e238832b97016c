import assert from "node:assert/strict";
import { rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type WatchFilesOptions, watchFiles } from "../../src/util/watch-files.js";
import { tempDir } from "./helpers.js";

/** Watches `files` in a fresh directory; resolves `changed` on each call of onChange. */
async function watching(t: TestContext, names: string[], options: WatchFilesOptions) {
  const dir = await tempDir(t, "watch");
  const paths = names.map((name) => join(dir, name));
  for (const path of paths) await writeFile(path, "first");
  let calls = 0;
  const watch = await watchFiles(paths, () => calls++, options);
  t.after(() => watch.close());
  /**
   * Waits up to `ms` for the next call; false when none came. A call that must come is given ample
   * time (it ends the wait as soon as it comes); one that must not is looked for a few settle times.
   */
  const nextCall = async (ms: number) => {
    const before = calls;
    const deadline = Date.now() + ms;
    while (calls === before && Date.now() < deadline) await sleep(10);
    return calls > before;
  };
  return { dir, paths, nextCall, calls: () => calls, watch };
}

const FAST_WATCH = { pollMs: 60_000, settleMs: 100 };

describe("watchFiles", () => {
  test("a file replaced by rename is noticed through fs.watch, once per burst of events", async (t) => {
    const w = await watching(t, ["tls.crt", "tls.key"], FAST_WATCH);
    const [cert = "", key = ""] = w.paths;
    await writeFile(`${cert}.new`, "second certificate");
    await writeFile(`${key}.new`, "second key");
    await rename(`${cert}.new`, cert);
    await rename(`${key}.new`, key);
    assert.ok(await w.nextCall(10_000), "noticed");
    await sleep(300);
    assert.equal(w.calls(), 1, "both renames inside the settle time: one call");
  });

  test("an in-place write is noticed too", async (t) => {
    const w = await watching(t, ["tls.crt"], FAST_WATCH);
    await writeFile(w.paths[0] ?? "", "rewritten, longer");
    assert.ok(await w.nextCall(10_000));
  });

  test("other files of the directory changing is not a change", async (t) => {
    const w = await watching(t, ["tls.crt"], FAST_WATCH);
    await writeFile(join(w.dir, "unrelated"), "x");
    assert.equal(await w.nextCall(300), false);
  });

  test("the periodic stat notices what fs.watch did not report", async (t) => {
    // Events wait a minute to be looked at: only the poll can notice within the test.
    const w = await watching(t, ["tls.crt"], { pollMs: 30, settleMs: 60_000 });
    await rm(w.paths[0] ?? "");
    assert.ok(await w.nextCall(10_000), "disappeared");
    await writeFile(w.paths[0] ?? "", "back");
    assert.ok(await w.nextCall(10_000), "appeared");
  });

  test("a watch on a directory that does not exist falls back to polling and says so", async (t) => {
    const dir = await tempDir(t, "watch");
    const path = join(dir, "later", "tls.crt");
    const errors: string[] = [];
    let calls = 0;
    const watch = await watchFiles([path], () => calls++, {
      pollMs: 30,
      settleMs: 20,
      onWatchError: (directory) => errors.push(directory),
    });
    t.after(() => watch.close());
    assert.deepEqual(errors, [join(dir, "later")]);
    await sleep(100);
    assert.equal(calls, 0);
  });

  test("after close nothing is called", async (t) => {
    const w = await watching(t, ["tls.crt"], { pollMs: 20, settleMs: 10 });
    w.watch.close();
    await writeFile(w.paths[0] ?? "", "changed after close");
    assert.equal(await w.nextCall(200), false);
  });
});
