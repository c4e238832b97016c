import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { Credentials } from "../types.js";

// ajv-formats is CommonJS: under NodeNext its function arrives as the module object's `default`.
type AddFormats = (ajv: Ajv2020) => unknown;
const formatsModule = addFormatsModule as unknown as { default?: AddFormats };
const addFormats = (formatsModule.default ?? addFormatsModule) as unknown as AddFormats;

export interface AdminAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

export type AdminAuth =
  | { readonly basic: Credentials }
  | { readonly bearer: string }
  | { readonly session: AdminSession }
  | undefined;

/** A browser's state against one wharf: its session cookie and the CSRF token the page learnt. */
export interface AdminSession {
  cookie: string | undefined;
  csrf: string | undefined;
}

export interface AdminRequest {
  readonly auth?: AdminAuth;
  readonly body?: unknown;
  /** Sent as the body as is (with `content-type`), instead of `body` as JSON. */
  readonly raw?: { readonly type: string; readonly text: string };
  /** false: a session request without its CSRF token; a string: that token instead. */
  readonly csrf?: boolean | string;
  readonly headers?: Record<string, string>;
}

interface Operation {
  readonly method: string;
  readonly template: string;
  readonly pattern: RegExp;
  readonly operationId: string;
  readonly responses: Record<string, { content?: Record<string, { schema: object }> }>;
}

type OpenApi = {
  paths: Record<string, Record<string, { operationId: string; responses: Operation["responses"] }>>;
};

/**
 * A client of the admin API that checks every answer against the OpenAPI document wharf serves:
 * the operation must be in it, the status one it documents, the body valid against that status's
 * schema. It remembers which operations were called, so a test can prove it covered them all.
 */
export class AdminApiClient {
  readonly base: string;
  readonly #operations: Operation[];
  readonly #ajv: Ajv2020;
  readonly called = new Set<string>();

  private constructor(base: string, document: OpenApi) {
    this.base = base;
    this.#ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.#ajv);
    this.#ajv.addSchema(document, "openapi.json");
    this.#operations = Object.entries(document.paths).flatMap(([template, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({
        method: method.toUpperCase(),
        template,
        pattern: new RegExp(`^${template.replace(/\{\w+\}/g, "[^/]+")}$`),
        operationId: operation.operationId,
        responses: operation.responses,
      })),
    );
  }

  /** Reads the document the server describes itself with (the only thing not checked against it). */
  static async open(base: string): Promise<AdminApiClient> {
    const response = await fetch(`${base}/api/v1/openapi.json`);
    assert.equal(response.status, 200);
    return new AdminApiClient(base, (await response.json()) as OpenApi);
  }

  get operationIds(): string[] {
    return this.#operations.map((operation) => operation.operationId);
  }

  newSession(): AdminSession {
    return { cookie: undefined, csrf: undefined };
  }

  /** Logs in: the session keeps the cookie and the CSRF token. */
  async login(session: AdminSession, credentials: Credentials): Promise<AdminAnswer> {
    const answer = await this.call("POST", "/api/v1/session", {
      body: { username: credentials.username, password: credentials.password },
    });
    const cookie = answer.headers.get("set-cookie");
    if (answer.status === 200 && cookie) {
      session.cookie = cookie.split(";")[0];
      session.csrf = (answer.body as { csrfToken?: string }).csrfToken;
    }
    return answer;
  }

  async call(method: string, pathAndQuery: string, request: AdminRequest = {}): Promise<AdminAnswer> {
    const headers: Record<string, string> = { accept: "application/json", ...request.headers };
    const auth = request.auth;
    if (auth && "basic" in auth) {
      headers.authorization = `Basic ${Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString("base64")}`;
    } else if (auth && "bearer" in auth) {
      headers.authorization = `Bearer ${auth.bearer}`;
    } else if (auth && "session" in auth) {
      if (auth.session.cookie) headers.cookie = auth.session.cookie;
      const token = typeof request.csrf === "string" ? request.csrf : auth.session.csrf;
      if (method !== "GET" && request.csrf !== false && token) headers["x-csrf-token"] = token;
    }
    let body: string | undefined;
    if (request.raw) {
      headers["content-type"] = request.raw.type;
      body = request.raw.text;
    } else if (request.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(request.body);
    }
    const response = await fetch(`${this.base}${pathAndQuery}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    const parsed: unknown = text === "" ? undefined : JSON.parse(text);
    this.#check(method, pathAndQuery, response.status, parsed);
    return { status: response.status, headers: response.headers, body: parsed };
  }

  #check(method: string, pathAndQuery: string, status: number, body: unknown): void {
    const path = pathAndQuery.split("?")[0] ?? "";
    const operation = this.#operations.find((op) => op.method === method && op.pattern.test(path));
    assert.ok(operation, `${method} ${path} is not in the OpenAPI document`);
    this.called.add(operation.operationId);
    const response = operation.responses[String(status)];
    assert.ok(
      response,
      `${operation.operationId} answered ${status}, which the document does not list: ${JSON.stringify(body)}`,
    );
    const schema = response.content?.["application/json"]?.schema;
    assert.ok(schema, `${operation.operationId} ${status} has no JSON schema`);
    const ref = (schema as { $ref?: string }).$ref;
    const validate = this.#ajv.getSchema(`openapi.json${ref ?? ""}`);
    assert.ok(validate, `cannot resolve ${ref}`);
    if (!validate(body)) {
      assert.fail(
        `${operation.operationId} ${status}: the body does not match ${ref}: ${this.#ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 2000)}`,
      );
    }
  }
}
