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
