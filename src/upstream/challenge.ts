/** One `WWW-Authenticate` challenge, e.g. `Bearer realm="https://auth.docker.io/token",service="…"`. */
export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

const PARAM = /\s*([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/y;
const SCHEME = /\s*([a-zA-Z][a-zA-Z0-9_-]*)/y;

/**
 * Parses the challenges of one or more `WWW-Authenticate` values (RFC 9110 §11.6.1). Lenient:
 * registries quote inconsistently, and an unreadable challenge only means "no known scheme".
 */
export function parseChallenges(headerValues: string | string[] | undefined): Challenge[] {
  const values = Array.isArray(headerValues) ? headerValues : headerValues ? [headerValues] : [];
  const challenges: Challenge[] = [];
  for (const value of values) {
    let position = 0;
    while (position < value.length) {
      SCHEME.lastIndex = position;
      const scheme = SCHEME.exec(value);
      if (!scheme) break;
      position = SCHEME.lastIndex;
      const params: Record<string, string> = {};
      for (;;) {
        PARAM.lastIndex = position;
        const param = PARAM.exec(value);
        if (!param) break;
        params[(param[1] as string).toLowerCase()] = (param[2] ?? param[3] ?? "").replace(/\\(.)/g, "$1");
        position = PARAM.lastIndex;
      }
      challenges.push({ scheme: (scheme[1] as string).toLowerCase(), params });
      while (value[position] === "," || value[position] === " ") position++;
    }
  }
  return challenges;
}
