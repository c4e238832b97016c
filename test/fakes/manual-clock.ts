import type { Clock } from "../../src/util/clock.js";

/** A Clock that moves only when a test moves it. */
export class ManualClock implements Clock {
  #now: number;

  constructor(start = Date.parse("2024-06-01T00:00:00Z")) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Moves to `time` (ms since epoch). */
  set(time: number): void {
    this.#now = time;
  }

  advance(ms: number): void {
    this.#now += ms;
  }
}
