import { z } from "zod";
import { API_PREFIX } from "./api.js";
import { CSRF_HEADER, SESSION_COOKIE } from "./caller.js";
import type { Endpoint } from "./endpoint.js";
import { components } from "./schemas.js";

type JsonObject = Record<string, unknown>;

const REF = (id: string) => `#/components/schemas/${id}`;

function idOf(schema: z.ZodType, what: string): string {
  const id = components.get(schema)?.id;
  // Every body is a named component, so the document says each shape once and clients can name it.
  if (id === undefined) throw new Error(`${what} uses a schema that is not registered in schemas.ts`);
  return id;
}

/** A generated schema as a component: without the keywords that would make it a document of its own. */
function asComponent(schema: unknown): JsonObject {
  const { $schema: _schema, $id: _id, ...rest } = schema as JsonObject;
  return rest;
}

function queryParameters(endpoint: Endpoint): JsonObject[] {
  if (!endpoint.query) return [];
  const schema = z.toJSONSchema(endpoint.query, { io: "input" }) as {
    properties?: Record<string, JsonObject>;
    required?: string[];
  };
  return Object.entries(schema.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: "query",
      required: (schema.required ?? []).includes(name),
      ...(typeof description === "string" ? { description } : {}),
      schema: rest,
    };
  });
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  400: "The query or body is not what the endpoint takes",
  401: "Credentials are needed, or were wrong",
  403: "The caller may not do this, or the request came from another site",
  404: "Nothing by that name, or nothing this caller may see",
  405: "Not with this method",
  409: "In conflict with what is there",
  415: "The body is not application/json",
  429: "Too many logins at once",
  503: "An upstream or the store cannot answer now",
};

function operation(endpoint: Endpoint): JsonObject {
  const pathParameters = [...endpoint.path.matchAll(/\{(\w+)\}/g)].map((match) => ({
    name: match[1],
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
  const status = endpoint.status ?? 200;
  const errors = [
    ...new Set([400, 401, 403, 404, ...(endpoint.method === "GET" ? [] : [415]), ...(endpoint.errors ?? [])]),
  ].sort();
  const responses: JsonObject = {
    [status]: {
      description: STATUS_TEXT[status] ?? "OK",
      content: {
        "application/json": { schema: { $ref: REF(idOf(endpoint.response, endpoint.operationId)) } },
      },
    },
  };
  for (const code of errors) {
    responses[code] = {
      description: STATUS_TEXT[code] ?? "Error",
      content: { "application/json": { schema: { $ref: REF("Error") } } },
    };
  }
  const anyone = endpoint.audience === "anyone";
  return {
    operationId: endpoint.operationId,
    summary: endpoint.summary,
    tags: [endpoint.tag],
    ...(anyone ? {} : { "x-wharf-audience": endpoint.audience }),
    parameters: [...pathParameters, ...queryParameters(endpoint)],
    ...(endpoint.body
      ? {
          requestBody: {
            required: true,
            content: {
              "application/json": { schema: { $ref: REF(idOf(endpoint.body, endpoint.operationId)) } },
            },
          },
        }
      : {}),
    responses,
    security: [
      ...(anyone ? [{}] : []),
      { session: [], ...(endpoint.method === "GET" ? {} : { csrf: [] }) },
      { basic: [] },
      { bearer: [] },
    ],
  };
}

/**
 * The admin API's OpenAPI 3.1 document, generated from the endpoint list and the schemas the
 * handlers use, so the document cannot say something the code does not do.
 */
export function openApiDocument(endpoints: readonly Endpoint[], version: string): JsonObject {
  const requestIds = new Set(endpoints.flatMap((e) => (e.body ? [idOf(e.body, e.operationId)] : [])));
  const uri = REF;
  // Request bodies as clients write them (defaults optional), responses as wharf sends them.
  const generate = (io: "input" | "output") =>
    z.toJSONSchema(components, { uri, io, metadata: components }).schemas as Record<string, unknown>;
  const outputs = generate("output");
  const inputs = generate("input");
  const schemas: Record<string, JsonObject> = {};
  for (const [id, schema] of Object.entries(outputs)) {
    schemas[id] = asComponent(requestIds.has(id) ? inputs[id] : schema);
  }
  const paths: Record<string, JsonObject> = {};
  for (const endpoint of endpoints) {
    const path = `${API_PREFIX}${endpoint.path}`;
    paths[path] ??= {};
    (paths[path] as JsonObject)[endpoint.method.toLowerCase()] = operation(endpoint);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "wharf admin API",
      version,
      description:
        "What the dashboard uses, for scripts too. Authenticate as on the registry API (Basic with a " +
        "password or API token, or a Bearer token from /token with scope registry:catalog:*), or with " +
        `the session cookie of POST ${API_PREFIX}/session; requests made with the cookie that change ` +
        `something carry the session's CSRF token in ${CSRF_HEADER}. Each caller sees only the ` +
        "repositories and images the access rules let them pull.",
    },
    servers: [{ url: "/" }],
    paths,
    components: {
      schemas,
      securitySchemes: {
        session: { type: "apiKey", in: "cookie", name: SESSION_COOKIE },
        csrf: { type: "apiKey", in: "header", name: CSRF_HEADER },
        basic: { type: "http", scheme: "basic" },
        bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
      },
    },
  };
}
