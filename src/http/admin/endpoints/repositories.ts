import { parseReference } from "../../../oci/names.js";
import type { ActivityLog } from "../../../ops/activity.js";
import type { CatalogImage, ImageCatalog } from "../../../ops/image-catalog.js";
import type { SyncStatus as SyncEntry } from "../../../ops/sync.js";
import type { Repository } from "../../../repos/repository.js";
import type { RepositoryRouter } from "../../../repos/router.js";
import { VERSION } from "../../../version.js";
import type { AdminCaller } from "../caller.js";
import { endpoint } from "../endpoint.js";
import { AdminError } from "../errors.js";
import { pullCommands } from "../pull-commands.js";
import {
  type CacheTotalsBody,
  Deleted,
  ImageDetail,
  type ImageDetailBody,
  ImagePage,
  ImageQuery,
  ImageRef,
  type RepositoryBody,
  RepositoryList,
  Repository as RepositorySchema,
  type StoreSummaryBody,
} from "../schemas.js";
import { type RepositoryView, viewOf } from "../visibility.js";

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | undefined) => (ms === undefined ? null : iso(ms));

/** Traffic counted since the process started. */
export interface Traffic {
  readonly hits: number;
  readonly misses: number;
  readonly bytesServed: number;
  readonly bytesFetched: number;
}

/**
 * What the operator's side knows of the store and the cache, beyond what a repository describes:
 * the store's last measurement against its bounds, traffic per serving repository, sync runs.
 */
export interface OperatorFacts {
  store():
    | {
        total: number;
        repositories: Readonly<Record<string, number>>;
        freeBytes?: number;
        measuredAt: number;
      }
    | undefined;
  readonly caps: {
    readonly total?: number;
    readonly minFree?: number;
    readonly repositories: ReadonlyMap<string, number>;
  };
  traffic(): Promise<{ total: Traffic; repositories: Readonly<Record<string, Traffic>> }>;
  sync(repository: string): ReadonlyArray<SyncEntry>;
}

export interface RepositoryServices {
  readonly router: RepositoryRouter;
  readonly catalog: ImageCatalog;
  readonly facts: OperatorFacts;
  /** Listener ports bound to one repository each. */
  readonly ports: ReadonlyMap<string, number>;
  readonly activity: ActivityLog;
  /** Whether a client without credentials may pull this image: the pull commands then need no login. */
  anonymousMayPull(repository: string, name: string): boolean;
}

export function cacheTotals(traffic: readonly Traffic[]): CacheTotalsBody {
  const sum = (pick: (t: Traffic) => number) => traffic.reduce((total, t) => total + pick(t), 0);
  const hits = sum((t) => t.hits);
  const misses = sum((t) => t.misses);
  const bytesServed = sum((t) => t.bytesServed);
  const bytesFetched = sum((t) => t.bytesFetched);
  return {
    hits,
    misses,
    hitRatio: hits + misses === 0 ? null : hits / (hits + misses),
    bytesServed,
    bytesFetched,
    bytesSaved: Math.max(0, bytesServed - bytesFetched),
  };
}

/** The repositories endpoints: listing, one repository, its images, one image, deleting one. */
export function repositoryEndpoints(services: RepositoryServices) {
  const { router, catalog, facts, ports, activity } = services;

  /** Hosted repositories may refuse deletes altogether (`allow_delete: false`). */
  const takesDeletes = async (holder: Repository) => {
    const described = await holder.describe();
    return holder.writer !== undefined && described.type === "hosted" && described.allowDelete;
  };

  const visibleOrMissing = (caller: AdminCaller, name: string): RepositoryView => {
    const repository = router.repository(name);
    const view = repository ? viewOf(caller, repository) : undefined;
    // A repository the caller may not see is as absent as one that does not exist.
    if (!view?.visible) throw new AdminError("NOT_FOUND", `no repository ${name}`);
    return view;
  };

  const visibleImage = (caller: AdminCaller) => (repo: string, name: string) =>
    caller.allows(repo, name, "pull");

  async function describe(
    caller: AdminCaller,
    view: RepositoryView,
    traffic: Readonly<Record<string, Traffic>>,
  ): Promise<RepositoryBody> {
    const { repository, holders, seesAll } = view;
    const described = await repository.describe();
    const seen = (name: string) => {
      const member = router.repository(name);
      return member !== undefined && viewOf(caller, member).visible;
    };
    const images = await catalog.images(
      holders.map((h) => h.name),
      visibleImage(caller),
    );
    const stored = facts.store();
    const holderNames = holders.map((h) => h.name);
    const upstream =
      described.type === "proxy"
        ? {
            url: described.upstream.url,
            registry: described.upstream.registryHosts[0] ?? new URL(described.upstream.url).host,
            libraryPrefix: described.upstream.libraryPrefix,
            tagTtlSeconds: described.upstream.tagTtlMs / 1000,
            rateLimit: { ...described.upstream.rateLimit },
          }
        : null;
    return {
      name: repository.name,
      type: described.type,
      upstream,
      // A group names only the members the caller may see: a hidden repository's name is no one else's business.
      members: described.type === "group" ? described.members.filter(seen) : [],
      pushTo:
        described.type === "group" && described.pushTo !== undefined && seen(described.pushTo)
          ? described.pushTo
          : null,
      allowDelete: described.type === "hosted" ? described.allowDelete : false,
      routing: {
        port: ports.get(repository.name) ?? null,
        prefix: repository.name,
        namespaces: [...repository.registryHosts],
        isDefault: router.defaultRepository === repository,
      },
      actions: [...view.actions],
      seesAll,
      images: images.length,
      size: {
        bytes:
          seesAll && stored ? holderNames.reduce((sum, h) => sum + (stored.repositories[h] ?? 0), 0) : null,
        cap: facts.caps.repositories.get(repository.name) ?? null,
      },
      cache: seesAll ? cacheTotals(holderNames.flatMap((h) => (traffic[h] ? [traffic[h]] : []))) : null,
      sync: facts.sync(repository.name).map((entry) => ({
        image: entry.image,
        intervalSeconds: entry.intervalSeconds,
        reserve: entry.reserve,
        lastRun: entry.lastRun
          ? { ...entry.lastRun, pulled: [...entry.lastRun.pulled], reason: entry.lastRun.reason ?? null }
          : null,
        nextRunAt: entry.nextRunAt ?? null,
      })),
    };
  }

  /** Whether the caller sees every repository whole: only then are store and cache totals theirs to see. */
  const storeSummary = (): StoreSummaryBody | null => {
    const stored = facts.store();
    if (!stored) return null;
    return {
      bytes: stored.total,
      cap: facts.caps.total ?? null,
      freeBytes: stored.freeBytes ?? null,
      floorBytes: facts.caps.minFree ?? null,
      measuredAt: iso(stored.measuredAt),
    };
  };

  const imageBody = (image: CatalogImage) => ({
    repository: image.repo,
    name: image.name,
    digest: image.digest,
    tags: image.tags.map((t) => t.tag).sort(),
    size: image.size,
    createdAt: iso(image.createdAt),
    lastPulledAt: isoOrNull(image.lastPulledAt),
    pulls: image.pulls ?? null,
  });

  async function holderOf(caller: AdminCaller, view: RepositoryView, name: string, reference: string) {
    const image = await catalog.find(
      view.holders.map((h) => h.name),
      visibleImage(caller),
      name,
      reference,
    );
    if (!image) throw new AdminError("NOT_FOUND", `no image ${name} ${reference} in ${view.repository.name}`);
    const holder = view.holders.find((h) => h.name === image.repo) as Repository;
    return { image, holder };
  }

  return [
    endpoint({
      method: "GET",
      path: "/repositories",
      operationId: "listRepositories",
      summary: "The repositories the caller may see, with their images, sizes, caps, hit ratios and budgets",
      tag: "repositories",
      audience: "anyone",
      response: RepositoryList,
      handle: async ({ caller }) => {
        const views = [...router.repositories.values()]
          .map((r) => viewOf(caller, r))
          .filter((v) => v.visible);
        const traffic = await facts.traffic();
        const repositories = await Promise.all(
          views.map((view) => describe(caller, view, traffic.repositories)),
        );
        const everything = [...router.repositories.values()].every((r) => viewOf(caller, r).seesAll);
        return {
          body: {
            version: VERSION,
            repositories,
            store: everything ? storeSummary() : null,
            cache: everything ? cacheTotals([traffic.total]) : null,
          },
        };
      },
    }),
    endpoint({
      method: "GET",
      path: "/repositories/{repository}",
      operationId: "getRepository",
      summary: "One repository",
      tag: "repositories",
      audience: "anyone",
      response: RepositorySchema,
      handle: async ({ caller, params }) => {
        const view = visibleOrMissing(caller, params.repository as string);
        return { body: await describe(caller, view, (await facts.traffic()).repositories) };
      },
    }),
    endpoint({
      method: "GET",
      path: "/repositories/{repository}/images",
      operationId: "listImages",
      summary: "A repository's images: searched, filtered, sorted and paged",
      tag: "images",
      audience: "anyone",
      query: ImageQuery,
      response: ImagePage,
      handle: async ({ caller, params, query }) => {
        const view = visibleOrMissing(caller, params.repository as string);
        const listed = await catalog.list(
          view.holders.map((h) => h.name),
          visibleImage(caller),
          {
            q: query.q,
            ...(query.tagged === undefined ? {} : { tagged: query.tagged === "true" }),
            ...(query.platform === undefined ? {} : { platform: query.platform }),
            sort: query.sort,
            order: query.order,
            offset: query.offset,
            limit: query.limit,
          },
        );
        return {
          body: {
            images: listed.images.map((image) => ({
              ...imageBody(image),
              mediaType: image.mediaType,
              kind: image.kind,
              platforms: [...image.platforms],
            })),
            total: listed.total,
            offset: query.offset,
            limit: query.limit,
            platforms: listed.platforms,
          },
        };
      },
    }),
    endpoint({
      method: "GET",
      path: "/repositories/{repository}/image",
      operationId: "getImage",
      summary:
        "One image by tag or digest: manifest, platforms with config and layers, tags, referrers, pull commands",
      tag: "images",
      audience: "anyone",
      query: ImageRef,
      response: ImageDetail,
      handle: async ({ ctx, caller, params, query }) => {
        const view = visibleOrMissing(caller, params.repository as string);
        const { image, holder } = await holderOf(caller, view, query.name, query.reference);
        const anatomy = await catalog.anatomy(image);
        if (!anatomy) throw new AdminError("NOT_FOUND", `the manifest of ${query.name} is gone`);
        const referrers = await holder.listReferrers(image.name, image.digest);
        const described = await view.repository.describe();
        const registry = described.type === "proxy" ? (described.upstream.registryHosts[0] ?? null) : null;
        const host = ctx.header("host") ?? "localhost";
        const encrypted = (ctx.req.socket as { encrypted?: boolean }).encrypted === true;
        const body: ImageDetailBody = {
          ...imageBody(image),
          mediaType: anatomy.mediaType,
          kind: anatomy.kind,
          tags: image.tags.map((t) => ({
            tag: t.tag,
            updatedAt: iso(t.updatedAt),
            lastPulledAt: isoOrNull(t.lastPulledAt),
            pulls: t.pulls ?? null,
          })),
          manifest: anatomy.manifest,
          platforms: anatomy.platforms,
          referrers: referrers.map((r) => ({
            digest: r.digest,
            mediaType: r.mediaType,
            artifactType: r.artifactType ?? null,
            size: r.size,
          })),
          pull: pullCommands({
            host,
            tls: encrypted,
            port: ports.get(view.repository.name) ?? null,
            repository: view.repository.name,
            registry,
            name: image.name,
            reference: image.tags[0]?.tag ?? image.digest,
            needsLogin: !services.anonymousMayPull(holder.name, image.name),
            user: caller.identity.principal.name ?? null,
          }),
          canDelete: caller.allows(holder.name, image.name, "delete") && (await takesDeletes(holder)),
        };
        return { body };
      },
    }),
    endpoint({
      method: "DELETE",
      path: "/repositories/{repository}/image",
      operationId: "deleteImage",
      summary: "Delete a tag (by tag) or a manifest with its tags (by digest), where the rules allow deletes",
      tag: "images",
      audience: "user",
      query: ImageRef,
      response: Deleted,
      errors: [405],
      handle: async ({ caller, params, query }) => {
        const view = visibleOrMissing(caller, params.repository as string);
        const { image, holder } = await holderOf(caller, view, query.name, query.reference);
        if (!caller.allows(holder.name, image.name, "delete")) {
          throw new AdminError("FORBIDDEN", `you may not delete from ${holder.name}/${image.name}`);
        }
        if (!holder.writer || !(await takesDeletes(holder))) {
          throw new AdminError("METHOD_NOT_ALLOWED", `${holder.name} takes no deletes`);
        }
        const reference = parseReference(query.reference);
        await holder.writer.deleteManifest(image.name, reference);
        catalog.forget(holder.name);
        activity.record({
          kind: "delete",
          repo: holder.name,
          name: image.name,
          reference: query.reference,
          ...(caller.identity.principal.name ? { user: caller.identity.principal.name } : {}),
        });
        return {
          body: {
            deleted: reference.kind === "tag" ? ("tag" as const) : ("manifest" as const),
            name: image.name,
            reference: query.reference,
          },
        };
      },
    }),
  ];
}
