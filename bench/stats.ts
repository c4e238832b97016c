/** Rounds to 3 decimals: more digits are noise on this kind of measurement. */
export function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

export function minOf(values: number[]): number | null {
  return values.length === 0 ? null : Math.min(...values);
}

export function maxOf(values: number[]): number | null {
  return values.length === 0 ? null : Math.max(...values);
}

/** The middle value (the lower of the two middle ones for an even count); null when there is none. */
export function medianOf(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? null;
}

/** a / b, or null when either side is missing (a failed measurement must not look like a ratio). */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || b === 0) return null;
  return round3(a / b);
}

export const MB = 1e6;
export const MiB = 2 ** 20;
