import type { z } from "zod";
import type { Sessions } from "../../auth/sessions.js";
import { readCapped } from "../../util/read-capped.js";
import type { AccessPolicy } from "../access.js";
import type { RequestContext } from "../context.js";
import { sendError, sendJson } from "../respond.js";
import { type AdminCaller, checkCrossSite, identifyCaller } from "./caller.js";
import type { Endpoint } from "./endpoint.js";
import { AdminError } from "./errors.js";

export const API_PREFIX = "/api/v1";

/** Request bodies of the admin API are small JSON documents. */
const MAX_BODY_BYTES = 64 * 1024;

interface CompiledPath {
  readonly endpoint: Endpoint;
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

function compile(endpoint: Endpoint): CompiledPath {
  const names: string[] = [];
  const source = endpoint.path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{(\w+)\\?\}/g, (_, name) => {
    names.push(name);
    return "([^/]+)";
  });
  return { endpoint, pattern: new RegExp(`^${source}$`), names };
}

/** A zod failure as the caller should read it: each path and what is wrong there. */
function invalid(where: string, error: z.ZodError): AdminError {
  return new AdminError(
    "BAD_REQUEST",
    `invalid ${where}: ${error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ")}`,
    { issues: error.issues.map((issue) => ({ path: issue.path.map(String), message: issue.message })) },
  );
}

async function readJson(ctx: RequestContext): Promise<unknown> {
  const type = (ctx.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  const raw = await readCapped(
    ctx.req,
    MAX_BODY_BYTES,
    () => new AdminError("BAD_REQUEST", "request body too large"),
  );
  if (raw.byteLength === 0) return {};
  // JSON only: a cross-site form cannot send it without a preflight, which wharf never grants.
  if (type !== "application/json") {
    throw new AdminError("UNSUPPORTED_MEDIA_TYPE", "send the request body as application/json");
  }
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch {
    throw new AdminError("BAD_REQUEST", "the request body is not JSON");
  }
}

function decodeParam(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new AdminError("BAD_REQUEST", "a path parameter is not valid percent-encoding");
  }
}

/**
 * The admin API's dispatcher: finds the endpoint for the path and method, identifies the caller,
 * refuses what the endpoint's audience excludes and cross-site writes, parses query and body
 * with the endpoint's schemas, and sends the handler's answer as JSON. Errors keep the
 * registry's envelope: the admin API's own refusals, and domain errors as `error-mapping.ts` says.
 */
export class AdminApi {
  readonly #paths: readonly CompiledPath[];
  readonly #access: AccessPolicy;
  readonly #sessions: Sessions | undefined;

  constructor(endpoints: readonly Endpoint[], access: AccessPolicy, sessions: Sessions | undefined) {
    this.#paths = endpoints.map(compile);
    this.#access = access;
    this.#sessions = sessions;
  }

  async handle(ctx: RequestContext): Promise<void> {
    ctx.route = "admin";
    try {
      await this.#dispatch(ctx);
    } catch (error) {
      if (error instanceof AdminError) {
        ctx.errorCode = error.code;
        if (ctx.res.headersSent) ctx.res.destroy();
        else sendJson(ctx, error.status, error.toJSON(), noStore);
        return;
      }
      sendError(ctx, error);
    }
  }

  async #dispatch(ctx: RequestContext): Promise<void> {
    const path = ctx.path.slice(API_PREFIX.length) || "/";
    const matches = this.#paths.flatMap((compiled) => {
      const match = compiled.pattern.exec(path);
      return match ? [{ compiled, match }] : [];
    });
    if (matches.length === 0) throw new AdminError("NOT_FOUND", `no admin API endpoint at ${ctx.path}`);
    const method = ctx.method === "HEAD" ? "GET" : ctx.method;
    const found = matches.find(({ compiled }) => compiled.endpoint.method === method);
    if (!found) {
      const allowed = matches.map(({ compiled }) => compiled.endpoint.method).join(", ");
      throw new AdminError("METHOD_NOT_ALLOWED", `${ctx.method} is not supported here (${allowed})`);
    }
    const { endpoint, names } = found.compiled;
    const params: Record<string, string> = {};
    names.forEach((name, i) => {
      params[name] = decodeParam(found.match[i + 1] as string);
    });
    const caller = await identifyCaller(ctx, this.#access, this.#sessions);
    ctx.user = caller.identity.principal.name;
    this.#admit(endpoint, caller);
    if (endpoint.method !== "GET") checkCrossSite(ctx, caller);
    const query = endpoint.query ? endpoint.query.safeParse(Object.fromEntries(ctx.query)) : undefined;
    if (query && !query.success) throw invalid("query", query.error);
    const body = endpoint.body ? endpoint.body.safeParse(await readJson(ctx)) : undefined;
    if (body && !body.success) throw invalid("body", body.error);
    const answer = await endpoint.handle({ ctx, caller, params, query: query?.data, body: body?.data });
    sendJson(ctx, answer.status ?? endpoint.status ?? 200, answer.body, { ...noStore, ...answer.headers });
  }

  #admit(endpoint: Endpoint, caller: AdminCaller): void {
    if (endpoint.audience === "anyone" || caller.admin) return;
    if (caller.identity.principal.name === undefined) {
      throw new AdminError(
        "UNAUTHORIZED",
        "log in first (POST /api/v1/session), or send Basic or Bearer credentials",
      );
    }
    if (endpoint.audience === "admin") throw new AdminError("FORBIDDEN", "only administrators may do this");
  }
}

/** Answers are about this caller and this moment: no cache may keep them. */
const noStore = { "cache-control": "no-store" } as const;
