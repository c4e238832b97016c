/**
 * The time, as something that can be handed in: services take a Clock so that in-process tests
 * move time forward by hand instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
