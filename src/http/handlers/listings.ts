import { parseDigest } from "../../oci/digest.js";
import { OciError } from "../../oci/errors.js";
import { MediaType } from "../../oci/media-types.js";
import { assertValidName } from "../../oci/names.js";
import type { RequestContext } from "../context.js";
import { sendJson } from "../respond.js";
import type { Target } from "./target.js";

/** The spec's `n` and `last` pagination parameters. */
export function pageOf(ctx: RequestContext): { limit?: number; last?: string } {
  const n = ctx.query.get("n");
  const last = ctx.query.get("last") ?? undefined;
  if (n === null || n === "") return last === undefined ? {} : { last };
  if (!/^\d{1,9}$/.test(n)) throw new OciError("PAGINATION_NUMBER_INVALID", { detail: { n } });
  return { limit: Number(n), ...(last === undefined ? {} : { last }) };
}

function nextLink(path: string, limit: number | undefined, last: string | undefined): Record<string, string> {
  if (last === undefined) return {};
  const query = new URLSearchParams({ ...(limit === undefined ? {} : { n: String(limit) }), last });
  return { link: `<${path}?${query}>; rel="next"` };
}

export async function listTags(ctx: RequestContext, target: Target): Promise<void> {
  const page = pageOf(ctx);
  if (page.limit === 0) {
    sendJson(ctx, 200, { name: target.clientName, tags: [] });
    return;
  }
  const { tags, more } = await target.repository.listTags(target.name, page);
  const link = more ? nextLink(`/v2/${target.clientName}/tags/list`, page.limit, tags.at(-1)) : {};
  sendJson(ctx, 200, { name: target.clientName, tags }, link);
}

export async function listReferrers(ctx: RequestContext, target: Target, digest: string): Promise<void> {
  parseDigest(digest);
  const artifactType = ctx.query.get("artifactType");
  const all = await target.repository.listReferrers(target.name, digest);
  const manifests = artifactType ? all.filter((d) => d.artifactType === artifactType) : all;
  sendJson(
    ctx,
    200,
    { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests },
    {
      "content-type": MediaType.ociIndex,
      ...(artifactType ? { "oci-filters-applied": "artifactType" } : {}),
    },
  );
}

export async function listCatalog(
  ctx: RequestContext,
  list: (page: { limit?: number; last?: string }) => Promise<{ names: string[]; more: boolean }>,
): Promise<void> {
  const page = pageOf(ctx);
  if (page.last !== undefined) assertValidName(page.last);
  if (page.limit === 0) {
    sendJson(ctx, 200, { repositories: [] });
    return;
  }
  const { names, more } = await list(page);
  const link = more ? nextLink("/v2/_catalog", page.limit, names.at(-1)) : {};
  sendJson(ctx, 200, { repositories: names }, link);
}
