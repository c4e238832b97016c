import { OciError } from "../oci/errors.js";
import { assertValidName } from "../oci/names.js";
import type { RepositoryRouter } from "../repos/router.js";
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

/**
 * The `/v2/` API: checks the method, resolves the repository, calls the handler for the route.
 * Writes are refused until a repository kind implements them.
 */
export class RegistryApi {
  readonly #router: RepositoryRouter;

  constructor(router: RepositoryRouter) {
    this.#router = router;
  }

  async handle(ctx: RequestContext, route: Route): Promise<void> {
    if (!ROUTE_METHODS[route.kind].includes(ctx.method)) {
      throw new OciError("UNSUPPORTED", { message: `${ctx.method} is not supported here` });
    }
    switch (route.kind) {
      case "base":
        sendJson(ctx, 200, {});
        return;
      case "catalog":
        return listCatalog(ctx, (page) => this.#catalogRepository(ctx).listNames(page));
      case "manifest": {
        const target = this.#target(ctx, route.name);
        if (ctx.method === "PUT") return putManifest(ctx, target, route.reference);
        if (ctx.method === "DELETE") return deleteManifest(ctx, target, route.reference);
        return getManifest(ctx, target, route.reference);
      }
      case "blob": {
        const target = this.#target(ctx, route.name);
        if (ctx.method === "DELETE") return deleteBlob(ctx, target, route.digest);
        if (ctx.method === "HEAD") return headBlob(ctx, target, route.digest);
        return getBlob(ctx, target, route.digest);
      }
      case "tags":
        return listTags(ctx, this.#target(ctx, route.name));
      case "referrers":
        return listReferrers(ctx, this.#target(ctx, route.name), route.digest);
      case "uploads":
        return startUpload(ctx, this.#target(ctx, route.name), (from) => this.#source(ctx, from));
      case "upload": {
        const target = this.#target(ctx, route.name);
        if (ctx.method === "PATCH") return patchUpload(ctx, target, route.id);
        if (ctx.method === "PUT") return finishUpload(ctx, target, route.id);
        if (ctx.method === "DELETE") return cancelUpload(ctx, target, route.id);
        return uploadStatus(ctx, target, route.id);
      }
    }
  }

  /** The source of a cross-repository mount, named as the client names things on this listener. */
  #source(ctx: RequestContext, clientName: string): Target {
    assertValidName(clientName);
    const routed = this.#router.resolve({
      name: clientName,
      ...(ctx.listener.boundRepository === undefined
        ? {}
        : { boundRepository: ctx.listener.boundRepository }),
    });
    return { repository: routed.repository, name: routed.name, clientName };
  }

  #target(ctx: RequestContext, clientName: string): Target {
    assertValidName(clientName);
    const ns = ctx.query.get("ns") ?? undefined;
    const routed = this.#router.resolve({
      name: clientName,
      ...(ctx.listener.boundRepository === undefined
        ? {}
        : { boundRepository: ctx.listener.boundRepository }),
      ...(ns === undefined ? {} : { ns }),
    });
    ctx.repository = routed.repository.name;
    if (routed.namespace !== undefined) ctx.res.setHeader("oci-namespace", routed.namespace);
    return { repository: routed.repository, name: routed.name, clientName };
  }

  #catalogRepository(ctx: RequestContext) {
    const bound = ctx.listener.boundRepository;
    const repository = bound === undefined ? this.#router.defaultRepository : this.#router.repository(bound);
    if (!repository) throw new OciError("UNSUPPORTED", { message: "no default repository to list" });
    ctx.repository = repository.name;
    return repository;
  }
}
