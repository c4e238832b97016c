const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses durations the way operators write them in YAML: `90s`, `5m`, `1h30m`, `250ms`, or a
 * bare number of seconds (`0` turns a cache off). Returns milliseconds, or undefined if unreadable.
 */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") return finite(value * 1000);
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return finite(Number(text) * 1000);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let position = 0;
  while (position < text.length) {
    part.lastIndex = position;
    const match = part.exec(text);
    if (!match) return undefined;
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
    position = part.lastIndex;
  }
  return position === 0 ? undefined : finite(total);
}

function finite(ms: number): number | undefined {
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}
