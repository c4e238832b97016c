import type { MetadataStore } from "../../../meta/metadata-store.js";
import { isValidName, parseReference } from "../../../oci/names.js";
import { type Platform, parsePlatform } from "../../../oci/platform.js";
import type { CacheKeeper } from "../../../ops/cache-keeper.js";
import { type EvictionScope, readEvictionInput } from "../../../ops/eviction.js";
import { type Eviction, planEviction } from "../../../ops/eviction-plan.js";
import type { PrefetchJob, PrefetchJobs } from "../../../ops/prefetch-jobs.js";
import { pullThrough } from "../../../ops/pull-through.js";
import type { RepositoryRouter } from "../../../repos/router.js";
import { permits } from "../../access.js";
import { endpoint } from "../endpoint.js";
import { AdminError } from "../errors.js";
import {
  Job,
  type JobBody,
  PrefetchRequest,
  PruneRequest,
  PruneResult,
  type PruneResultBody,
} from "../schemas.js";
import { viewOf } from "../visibility.js";

const iso = (ms: number) => new Date(ms).toISOString();

export interface ActionServices {
  readonly router: RepositoryRouter;
  readonly jobs: PrefetchJobs;
  readonly keeper: CacheKeeper;
  readonly meta: MetadataStore;
  readonly scope: EvictionScope;
}

function jobBody(job: PrefetchJob): JobBody {
  return {
    id: job.id,
    repository: job.repo,
    image: `${job.name}${job.reference.includes(":") ? "@" : ":"}${job.reference}`,
    user: job.user ?? null,
    state: job.state,
    startedAt: iso(job.startedAt),
    finishedAt: job.finishedAt === undefined ? null : iso(job.finishedAt),
    blobs: job.result?.blobs ?? null,
    blobsFetched: job.result?.blobsFetched ?? null,
    bytesFetched: job.result?.bytesFetched ?? null,
    error: job.error ?? null,
  };
}

function evictionBody(eviction: Eviction, bytes: number): PruneResultBody["evictions"][number] {
  const { image } = eviction;
  return {
    repository: image.repo,
    name: image.name,
    digest: image.digest,
    tags: [...image.tags],
    bytes,
    lastUsedAt: iso(image.lastUsed),
    reason: eviction.reason,
  };
}

/** The actions besides deletes: prefetching through a repository, and pruning the cache. */
export function actionEndpoints(services: ActionServices) {
  const { router, jobs, keeper, meta, scope } = services;
  return [
    endpoint({
      method: "POST",
      path: "/repositories/{repository}/prefetch",
      operationId: "prefetch",
      summary: "Pull an image into the cache on the server, through the repository as a client's pull would",
      tag: "actions",
      audience: "user",
      body: PrefetchRequest,
      status: 202,
      response: Job,
      handle: async ({ caller, params, body }) => {
        const name = params.repository as string;
        const repository = router.repository(name);
        if (!repository || !viewOf(caller, repository).visible)
          throw new AdminError("NOT_FOUND", `no repository ${name}`);
        if (!isValidName(body.name))
          throw new AdminError("BAD_REQUEST", `"${body.name}" is not an image name`);
        const reference = parseReference(body.reference);
        // The rules of a pull: a group is read through the members this caller may read.
        const allowed = (member: typeof repository) => permits(caller.allows, member, body.name, "pull");
        if (!allowed(repository))
          throw new AdminError("FORBIDDEN", `you may not pull ${body.name} from ${name}`);
        const platforms = (body.platforms ?? [])
          .map(parsePlatform)
          .filter((p): p is Platform => p !== undefined);
        const visible = repository.visibleTo(allowed);
        const job = jobs.start(
          { repo: name, name: body.name, reference: body.reference, user: caller.identity.principal.name },
          () => pullThrough(visible, body.name, reference, platforms.length > 0 ? { platforms } : {}),
        );
        return { body: jobBody(job) };
      },
    }),
    endpoint({
      method: "GET",
      path: "/jobs/{id}",
      operationId: "getJob",
      summary: "A prefetch started through the admin API: running, done or failed, and what it fetched",
      tag: "actions",
      audience: "user",
      response: Job,
      handle: async ({ caller, params }) => {
        const job = jobs.get(params.id as string);
        // Someone else's job is nobody's business but theirs and an admin's.
        if (!job || (!caller.admin && job.user !== caller.identity.principal.name)) {
          throw new AdminError("NOT_FOUND", `no job ${params.id}`);
        }
        return { body: jobBody(job) };
      },
    }),
    endpoint({
      method: "POST",
      path: "/prune",
      operationId: "prune",
      summary: "Evict what max_unused, the caps and the free-space floor call for (dryRun: only say what)",
      tag: "actions",
      audience: "admin",
      body: PruneRequest,
      response: PruneResult,
      handle: async ({ body }) => {
        if (body.dryRun) {
          const free = keeper.snapshot?.freeBytes;
          const plan = planEviction(
            await readEvictionInput(meta, scope, {
              now: Date.now(),
              ...(free === undefined ? {} : { freeBytes: free }),
            }),
          );
          return {
            body: {
              dryRun: true,
              evictions: plan.evictions.map((e) => evictionBody(e, e.bytes)),
              bytes: plan.bytes,
            },
          };
        }
        // The keeper's own run, so it never races one of its scheduled runs.
        const run = await keeper.run("a prune asked for in the admin API", { always: true });
        return {
          body: {
            dryRun: false,
            evictions: run.carried.map((done) => evictionBody(done.eviction, done.bytes)),
            bytes: run.carried.reduce((sum, done) => sum + done.bytes, 0),
          },
        };
      },
    }),
  ];
}
