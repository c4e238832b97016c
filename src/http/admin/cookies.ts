/** The values of one cookie name in a `Cookie` header (a browser may send a name twice). */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    values.push(part.slice(eq + 1).trim());
  }
  return values;
}

export interface CookieOptions {
  /** Seconds; 0 deletes the cookie. */
  readonly maxAge: number;
  /** Over TLS: the browser then never sends it in the clear. */
  readonly secure: boolean;
}

/**
 * A session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's page makes the
 * browser send it), for the whole host, `Secure` whenever wharf speaks TLS.
 */
export function sessionCookie(name: string, value: string, options: CookieOptions): string {
  return [
    `${name}=${value}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Strict",
    `Max-Age=${Math.max(0, Math.floor(options.maxAge))}`,
    ...(options.secure ? ["Secure"] : []),
  ].join("; ");
}
