import http from "node:http";

// The conformance suite talks to the registry through reggie (on resty v2, on Go's net/http).
// What reaches the wire is not what the Go source reads like, and a faithful port has to send
// what the suite really sends:
// - a Content-Length set with SetHeader never goes out: Go's Request.Write drops it and frames
//   the body itself. reggie hands resty the body as an io.ReadCloser of unknown length, so every
//   non-empty body goes out chunked, and a body-less POST/PUT/PATCH carries Content-Length: 0;
// - resty sends no body on GET/HEAD, and copies a JSON Content-Type into Accept when the request
//   has no Accept (manifest media types end in +json);
// - query parameters are Go's url.Values.Encode(): keys sorted, QueryEscape'd, appended after any
//   query the path already had (an upload Location may carry one);
// - reggie's transport disables compression (no Accept-Encoding) and follows up to 20 redirects.
// With OCI_USERNAME/OCI_PASSWORD every request carries Basic credentials, which wharf accepts on
// registry requests; the token round trip (401, realm, retry) is not emulated here.

/** How a request body is framed on the wire. */
export type Framing =
  /** reggie's SetBody: chunked when there is a body, Content-Length: 0 on body-less POST/PUT/PATCH. */
  | "reggie"
  /** The redesigned suite's apiWithContentLength: an explicit Content-Length, exactly as set. */
  | "content-length";

export interface ExchangeOptions {
  readonly framing?: Framing;
  /** Explicit Content-Length for "content-length" framing (defaults to the body's length). */
  readonly contentLength?: number;
  readonly timeoutMs?: number;
}

export class ConformanceResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** "METHOD url" of the request that produced it, for failure messages. */
  readonly request: string;

  constructor(status: number, headers: http.IncomingHttpHeaders, body: Buffer, request: string) {
    this.status = status;
    this.headers = headers;
    this.body = body;
    this.request = request;
  }

  /** Go's Header.Get: the first value, "" when absent. */
  header(name: string): string {
    const value = this.headers[name.toLowerCase()];
    if (value === undefined) return "";
    return Array.isArray(value) ? (value[0] ?? "") : String(value);
  }

  /** reggie's GetRelativeLocation: path and raw query of the Location header, "" when unreadable. */
  relativeLocation(): string {
    const location = this.header("Location");
    try {
      const url = new URL(location, "http://relative.invalid");
      return url.pathname + url.search;
    } catch {
      return "";
    }
  }

  /** reggie's GetAbsoluteLocation: the Location header as sent. */
  absoluteLocation(): string {
    return this.header("Location");
  }

  /** reggie's Errors(): the spec's error envelope, or a thrown error when the body is not JSON. */
  errors(): Array<{ code: string; message?: string; detail?: unknown }> {
    const parsed = JSON.parse(this.body.toString("utf8")) as { errors?: Array<{ code?: unknown }> };
    return (parsed.errors ?? []).map((entry) => ({ ...entry, code: String(entry.code ?? "") }));
  }

  /** One line describing the exchange, quoted in every failed expectation. */
  describe(): string {
    const interesting = ["location", "range", "docker-content-digest", "content-type", "content-length"]
      .filter((name) => this.headers[name] !== undefined)
      .map((name) => `${name}: ${this.header(name)}`);
    const text = this.body.toString("utf8");
    // blob bodies are random bytes: their length says enough
    const printable = !/[^\t\n\r\x20-\x7e]/.test(text);
    const body = !printable
      ? `<${this.body.length} bytes>`
      : text.length > 300
        ? `${text.slice(0, 300)}…`
        : text;
    return `${this.request} → ${this.status} [${interesting.join("; ")}] ${body}`;
  }
}

/** Go's url.QueryEscape: everything but unreserved characters escaped, space as '+'. */
export function goQueryEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

/** Go's url.Values.Encode(): sorted by key. */
export function goEncodeQuery(params: ReadonlyMap<string, string>): string {
  return [...params.keys()]
    .sort()
    .map((key) => `${goQueryEscape(key)}=${goQueryEscape(params.get(key) ?? "")}`)
    .join("&");
}

const JSON_TYPE = /^(application|text)\/(json|.*\+json|json-.*)(;|$)/i;
const METHODS_WITHOUT_PAYLOAD = new Set(["GET", "HEAD", "OPTIONS"]);
const CONTENT_LENGTH_ZERO_METHODS = new Set(["POST", "PUT", "PATCH"]);

/** One request under construction, with reggie's builder methods. */
export class ConformanceRequest {
  readonly method: string;
  /** The URL as reggie built it (root + path, placeholders substituted). */
  readonly url: string;
  readonly #headers = new Map<string, string[]>();
  readonly #query = new Map<string, string>();
  #body: Buffer | undefined;

  constructor(method: string, url: string, userAgent: string) {
    this.method = method;
    this.url = url;
    this.setHeader("User-Agent", userAgent);
  }

  setHeader(name: string, value: string): this {
    this.#headers.set(name.toLowerCase(), [value]);
    return this;
  }

  /** Go's Header.Add: another line of the same header (the redesigned suite sends two Accepts). */
  addHeader(name: string, value: string): this {
    this.#headers.set(name.toLowerCase(), [...(this.#headers.get(name.toLowerCase()) ?? []), value]);
    return this;
  }

  setQueryParam(name: string, value: string): this {
    this.#query.set(name, value);
    return this;
  }

  setBody(body: Uint8Array | string): this {
    this.#body = Buffer.from(body);
    return this;
  }

  /** The final URL: the path's own query first, then the sorted parameters. */
  target(): URL {
    const url = new URL(this.url);
    const extra = goEncodeQuery(this.#query);
    if (extra !== "") url.search = url.search === "" ? extra : `${url.search.slice(1)}&${extra}`;
    return url;
  }

  header(name: string): string | undefined {
    return this.#headers.get(name.toLowerCase())?.[0];
  }

  /** Headers and body as they reach the wire under the given framing. */
  wire(options: ExchangeOptions): { headers: http.OutgoingHttpHeaders; body: Buffer | undefined } {
    const headers: http.OutgoingHttpHeaders = {};
    for (const [key, values] of this.#headers) {
      if (key === "content-length" || key === "transfer-encoding" || key === "host") continue;
      headers[key] = values.length === 1 ? values[0] : values;
    }
    const contentType = this.header("Content-Type");
    if (this.header("Accept") === undefined && contentType !== undefined && JSON_TYPE.test(contentType)) {
      headers.accept = contentType;
    }
    const body = METHODS_WITHOUT_PAYLOAD.has(this.method) ? undefined : this.#body;
    if ((options.framing ?? "reggie") === "content-length") {
      const length = options.contentLength ?? body?.length ?? 0;
      if (body !== undefined || CONTENT_LENGTH_ZERO_METHODS.has(this.method) || length > 0) {
        headers["content-length"] = String(length);
      }
      return { headers, body };
    }
    if (body !== undefined && body.length > 0) headers["transfer-encoding"] = "chunked";
    else if (CONTENT_LENGTH_ZERO_METHODS.has(this.method)) headers["content-length"] = "0";
    return { headers, body: body !== undefined && body.length > 0 ? body : undefined };
  }
}

export interface RequestPlaceholders {
  readonly name?: string;
  readonly reference?: string;
  readonly digest?: string;
  readonly sessionId?: string;
}

const MAX_REDIRECTS = 20;

/** reggie.Client, configured as the suite configures it. */
export class ConformanceClient {
  readonly rootUrl: string;
  readonly defaultName: string;
  readonly userAgent: string;

  readonly #authorization: string | undefined;

  constructor(
    rootUrl: string,
    defaultName: string,
    credentials?: { username: string; password: string },
    userAgent = "distribution-spec-conformance-tests",
  ) {
    this.rootUrl = rootUrl.replace(/\/$/, "");
    this.defaultName = defaultName;
    this.userAgent = userAgent;
    this.#authorization = credentials
      ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`
      : undefined;
  }

  /** reggie's NewRequest: substitutes the non-empty placeholders, then root + "/" + path. */
  newRequest(method: string, path: string, placeholders: RequestPlaceholders = {}): ConformanceRequest {
    const replacements: Array<[string, string | undefined]> = [
      ["<name>", placeholders.name || this.defaultName],
      ["<reference>", placeholders.reference],
      ["<digest>", placeholders.digest],
      ["<session_id>", placeholders.sessionId],
    ];
    let resolved = path;
    for (const [placeholder, value] of replacements) {
      if (value) resolved = resolved.split(placeholder).join(value);
    }
    return new ConformanceRequest(method, `${this.rootUrl}/${resolved.replace(/^\//, "")}`, this.userAgent);
  }

  /** reggie's Do: refuses a URL with an unsubstituted placeholder, else sends it. */
  async do(req: ConformanceRequest, options: ExchangeOptions = {}): Promise<ConformanceResponse> {
    if (/<name>|<reference>|<digest>|<session_id>|\/\/{2,}/.test(req.url)) {
      throw new Error(`request is invalid: ${req.method} ${req.url}`);
    }
    let method = req.method;
    let url = req.target();
    let { headers, body } = req.wire(options);
    if (this.#authorization) headers = { ...headers, authorization: this.#authorization };
    for (let redirects = 0; ; redirects++) {
      const response = await exchange(method, url, headers, body, options.timeoutMs ?? 60_000);
      const location = response.header("Location");
      if (![301, 302, 303, 307, 308].includes(response.status) || location === "") return response;
      if (redirects >= MAX_REDIRECTS) throw new Error(`stopped after ${MAX_REDIRECTS} redirects`);
      // Go's client: 307/308 repeat the request, the others turn it into a body-less GET.
      url = new URL(location, url);
      if (response.status !== 307 && response.status !== 308) {
        method = method === "HEAD" ? "HEAD" : "GET";
        body = undefined;
        headers = Object.fromEntries(
          Object.entries(headers).filter(([key]) => key !== "content-length" && key !== "transfer-encoding"),
        );
      }
    }
  }
}

function exchange(
  method: string,
  url: URL,
  headers: http.OutgoingHttpHeaders,
  body: Buffer | undefined,
  timeoutMs: number,
): Promise<ConformanceResponse> {
  const described = `${method} ${url.pathname}${url.search}`;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path: `${url.pathname}${url.search}`,
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          clearTimeout(timer);
          resolve(
            new ConformanceResponse(res.statusCode ?? 0, res.headers, Buffer.concat(chunks), described),
          );
        });
        res.on("error", (error) => {
          clearTimeout(timer);
          reject(error);
        });
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`${described}: no complete answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}
