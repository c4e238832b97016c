import type { z } from "zod";
import type { RequestContext } from "../context.js";
import type { AdminCaller } from "./caller.js";

/** Who may call an endpoint at all; what they then see is the rules' business, per image. */
export type Audience = "anyone" | "user" | "admin";

export interface Call<Query, Body> {
  readonly ctx: RequestContext;
  readonly caller: AdminCaller;
  /** Path parameters, decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: Query;
  readonly body: Body;
}

/** What a handler answers: the status documented for it, a body of its schema, and any header. */
export interface Answer<T> {
  readonly status?: number;
  readonly body: T;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * One operation of the admin API, described once: the router parses the request with its
 * schemas, the OpenAPI document is generated from the same description, and the handler's
 * answer is typed by its response schema.
 */
export interface Endpoint<
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
> {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /** Under `/api/v1`, with `{param}` segments. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tag: string;
  readonly audience: Audience;
  readonly query?: Q;
  readonly body?: B;
  /** The success status (200 unless said). */
  readonly status?: number;
  readonly response: R;
  /** Error statuses worth documenting besides 400 (bad input), 401, 403 and 404, which every endpoint may answer. */
  readonly errors?: readonly number[];
  handle(call: Call<z.output<Q>, z.output<B>>): Promise<Answer<z.output<R>>>;
}

/** Keeps an endpoint's types while it joins a list of endpoints of other types. */
export function endpoint<Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType>(
  definition: Endpoint<Q, B, R>,
): Endpoint {
  return definition as unknown as Endpoint;
}
