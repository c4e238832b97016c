import type { Action } from "../auth/rules.js";
import { OciError } from "../oci/errors.js";
import { assertValidName } from "../oci/names.js";
import type { Page } from "../oci/pagination.js";
import { holdersOf, type Repository } from "../repos/repository.js";
import type { RepositoryRouter, Routed, RouteQuery } from "../repos/router.js";
import { type AccessPolicy, type AccessRequest, type Identity, permits, scopeOf } from "./access.js";
import type { RequestContext } from "./context.js";
import { getBlob, headBlob } from "./handlers/blobs.js";
import { listCatalog, listReferrers, listTags } from "./handlers/listings.js";
import { getManifest } from "./handlers/manifests.js";
import type { Target } from "./handlers/target.js";
import {
  cancelUpload,
  deleteBlob,
  deleteManifest,
  finishUpload,
  patchUpload,
  putManifest,
  startUpload,
  uploadStatus,
} from "./handlers/writes.js";
import { sendJson } from "./respond.js";
import { ROUTE_METHODS, type Route } from "./routes.js";

/** What each route and method asks of the rules. */
function actionOf(route: Route, method: string): Action {
  if (route.kind === "uploads" || route.kind === "upload") return "push";
  if (method === "DELETE") return "delete";
  if (method === "PUT") return "push";
  return "pull";
}

/**
 * The `/v2/` API: checks the method, identifies the client, resolves the repository, checks the
 * access rules, calls the handler for the route.
 */
export class RegistryApi {
  readonly #router: RepositoryRouter;
  readonly #access: AccessPolicy;

  constructor(router: RepositoryRouter, access: AccessPolicy) {
    this.#router = router;
    this.#access = access;
  }

  async handle(ctx: RequestContext, route: Route): Promise<void> {
    if (!ROUTE_METHODS[route.kind].includes(ctx.method)) {
      throw new OciError("UNSUPPORTED", { message: `${ctx.method} is not supported here` });
    }
    const identity = await this.#access.identify(ctx);
    ctx.user = identity.principal.name;
    if (route.kind === "base") {
      // Clients probe /v2/ to learn how to authenticate: without credentials they get the challenge.
      if (this.#access.enabled && identity.via === "anonymous") throw this.#access.challenge(ctx);
      sendJson(ctx, 200, {});
      return;
    }
    if (route.kind === "catalog") return listCatalog(ctx, (page) => this.#catalogPage(ctx, identity, page));
    const target = this.#target(ctx, route.name, actionOf(route, ctx.method), identity, route.kind);
    switch (route.kind) {
      case "manifest":
        if (ctx.method === "PUT") return putManifest(ctx, target, route.reference);
        if (ctx.method === "DELETE") return deleteManifest(ctx, target, route.reference);
        return getManifest(ctx, target, route.reference);
      case "blob":
        if (ctx.method === "DELETE") return deleteBlob(ctx, target, route.digest);
        if (ctx.method === "HEAD") return headBlob(ctx, target, route.digest);
        return getBlob(ctx, target, route.digest);
      case "tags":
        return listTags(ctx, target);
      case "referrers":
        return listReferrers(ctx, target, route.digest);
      case "uploads":
        return startUpload(ctx, target, (from) =>
          this.#mountSource(ctx, from, identity, { clientName: route.name, action: "push" }),
        );
      case "upload":
        if (ctx.method === "PATCH") return patchUpload(ctx, target, route.id);
        if (ctx.method === "PUT") return finishUpload(ctx, target, route.id);
        if (ctx.method === "DELETE") return cancelUpload(ctx, target, route.id);
        return uploadStatus(ctx, target, route.id);
    }
  }

  #route(ctx: RequestContext, clientName: string, ns: string | undefined): Routed {
    assertValidName(clientName);
    return this.#router.resolve(this.#routeQuery(ctx, clientName, ns));
  }

  #routeQuery(ctx: RequestContext, clientName: string, ns: string | undefined): RouteQuery {
    return {
      name: clientName,
      ...(ctx.listener.boundRepository === undefined
        ? {}
        : { boundRepository: ctx.listener.boundRepository }),
      ...(ns === undefined ? {} : { ns }),
    };
  }

  /** Asks the rules about `repository` as this identity, groups included. */
  #permits(identity: Identity, repository: Repository, name: string, action: Action): boolean {
    return permits(
      (repo, image, act) => this.#access.allows(identity, repo, image, act),
      repository,
      name,
      action,
    );
  }

  /** Resolves a name, checks the identity may do `action` there, and narrows groups to what it may read. */
  #authorized(
    ctx: RequestContext,
    identity: Identity,
    request: AccessRequest,
    ns: string | undefined,
  ): Target {
    const routed = this.#route(ctx, request.clientName, ns);
    ctx.repository = routed.repository.name;
    const permitted = this.#permits(identity, routed.repository, routed.name, request.action);
    const byNamespace = routed.namespace !== undefined;
    this.#access.require(ctx, identity, { ...request, byNamespace }, permitted);
    if (routed.namespace !== undefined) ctx.res.setHeader("oci-namespace", routed.namespace);
    return this.#narrowed(identity, routed.repository, routed.name, request.clientName);
  }

  #narrowed(identity: Identity, repository: Repository, name: string, clientName: string): Target {
    // A group shows this identity only the members it may read (invariant 5: no leaks through groups).
    const visible = repository.visibleTo((member) => this.#permits(identity, member, name, "pull"));
    return { repository: visible, name, clientName };
  }

  /**
   * The source of a cross-repository mount `into` a name. Whoever may not read it gets undefined:
   * the mount falls back to a plain upload session, as the spec says, never a refusal (the client
   * then pushes the blob). Whoever may read it but came with a token lacking its scope is sent
   * for a token with both scopes. A malformed name is still a 400.
   */
  #mountSource(
    ctx: RequestContext,
    clientName: string,
    identity: Identity,
    into: AccessRequest,
  ): Target | undefined {
    assertValidName(clientName);
    let routed: Routed;
    try {
      routed = this.#router.resolve(this.#routeQuery(ctx, clientName, undefined));
    } catch {
      return undefined;
    }
    if (!this.#permits(identity, routed.repository, routed.name, "pull")) return undefined;
    this.#access.require(ctx, identity, { clientName, action: "pull", alsoScopes: [scopeOf(into)] }, true);
    return this.#narrowed(identity, routed.repository, routed.name, clientName);
  }

  #target(
    ctx: RequestContext,
    clientName: string,
    action: Action,
    identity: Identity,
    kind: Route["kind"],
  ): Target {
    // A mount's challenge also asks for the source, so the token the client comes back with can read it.
    const from = kind === "uploads" ? ctx.query.get("from") : null;
    const mounting = from !== null && from !== "" && ctx.query.get("mount") !== null;
    const request: AccessRequest = {
      clientName,
      action,
      ...(mounting ? { alsoScopes: [scopeOf({ clientName: from, action: "pull" })] } : {}),
    };
    return this.#authorized(ctx, identity, request, ctx.query.get("ns") ?? undefined);
  }

  /**
   * One page of the names this identity may read in the catalog's repository: each repository
   * holding content for it (itself, or a group's members) is read in order from `last` on, a batch
   * at a time, keeping the names the rules let this identity pull, merged until the page is full.
   * Filtering happens before paging, so a page is never short because of names one may not see,
   * and a page costs what it shows (plus what it skipped), not the whole catalog.
   */
  async #catalogPage(
    ctx: RequestContext,
    identity: Identity,
    page: Page,
  ): Promise<{ names: string[]; more: boolean }> {
    const bound = ctx.listener.boundRepository;
    const repository = bound === undefined ? this.#router.defaultRepository : this.#router.repository(bound);
    if (!repository) throw new OciError("UNSUPPORTED", { message: "no default repository to list" });
    ctx.repository = repository.name;
    const limit = page.limit ?? CATALOG_PAGE;
    // A page of n names needs at most n + 1 from each repository when the rules hide none of them:
    // reading a whole batch would make a short page cost more on a big store than on a small one.
    const firstBatch = Math.min(CATALOG_BATCH, limit + 1);
    const sources = holdersOf(repository).map((holder) =>
      readableNames(holder, page.last, firstBatch, (name) =>
        this.#access.allows(identity, holder.name, name, "pull"),
      ),
    );
    const names = await mergeSorted(sources, limit + 1);
    return { names: names.slice(0, limit), more: names.length > limit };
  }
}

/** A catalog page without `n`: as many names as a store pages at once. */
const CATALOG_PAGE = 10_000;
/** Names read from a repository at a time while filling a catalog page. */
const CATALOG_BATCH = 500;

/**
 * A repository's names after `last`, in order, those `readable` admits: `firstBatch` names read
 * first, then CATALOG_BATCH at a time while the rules hide some.
 */
async function* readableNames(
  holder: Repository,
  last: string | undefined,
  firstBatch: number,
  readable: (name: string) => boolean,
): AsyncGenerator<string> {
  let after = last;
  for (let batch = firstBatch; ; batch = CATALOG_BATCH) {
    const { names, more } = await holder.listNames({
      limit: batch,
      ...(after === undefined ? {} : { last: after }),
    });
    for (const name of names) if (readable(name)) yield name;
    if (!more || names.length === 0) return;
    after = names.at(-1);
  }
}

/** The first `count` distinct values of sorted sources, merged in order. */
async function mergeSorted(sources: AsyncGenerator<string>[], count: number): Promise<string[]> {
  const heads = await Promise.all(sources.map((source) => source.next()));
  const merged: string[] = [];
  while (merged.length < count) {
    let lowest = -1;
    for (const [i, head] of heads.entries()) {
      if (head.done) continue;
      const current = heads[lowest];
      if (lowest < 0 || (current && !current.done && head.value < current.value)) lowest = i;
    }
    const head = heads[lowest];
    if (!head || head.done) break;
    if (merged.at(-1) !== head.value) merged.push(head.value);
    // Asking a source for its next name may read a whole batch more: not once the page is full.
    if (merged.length === count) break;
    heads[lowest] = await (sources[lowest] as AsyncGenerator<string>).next();
  }
  for (const source of sources) await source.return(undefined);
  return merged;
}
