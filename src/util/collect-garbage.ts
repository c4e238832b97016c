import { setImmediate as nextTurn } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * One full garbage collection, on the next turn of the event loop (once the frames that held the
 * garbage are gone). For right after a one-off read that allocated far more than it keeps: V8
 * raises its old-generation limit to what such a read held, then leaves its garbage there until
 * the heap reaches that limit, and every scavenge meanwhile pays for the bigger heap. Node hands
 * out `gc` only behind a flag; set at run time, it exists in contexts made after it (Jest's leak
 * detector gets it the same way). It stops everything for as long as it takes: tens of ms for a
 * heap of hundreds of megabytes.
 */
export async function collectGarbage(): Promise<void> {
  await nextTurn();
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

/**
 * Rows of bulk reads left as garbage since the last collection that are worth one: at a million
 * blobs a whole read of the metadata made every request after it 10 % slower (V8 kept its
 * hundreds of megabytes, see collectGarbage) until a collection, which took 37 ms. A tenth of that
 * read is a pause of a few ms, and reads that small on their own add up here until they reach it.
 */
const ROWS_WORTH_A_COLLECTION = 100_000;

let rowsUncollected = 0;
let collecting: Promise<void> | undefined;

/**
 * A bulk read (the dashboard's images, eviction's plan) is done and its `rows` are garbage now;
 * once enough have added up, one full collection follows on the next turn. Returns it, if one is
 * due, for tests; callers need not wait for it.
 */
export function readLeftGarbage(rows: number): Promise<void> | undefined {
  rowsUncollected += rows;
  if (rowsUncollected < ROWS_WORTH_A_COLLECTION) return collecting;
  rowsUncollected = 0;
  collecting ??= collectGarbage().finally(() => {
    collecting = undefined;
  });
  return collecting;
}
