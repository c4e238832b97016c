import { z } from "zod";
import { ACTIVITY_KINDS } from "../../meta/ops-records.js";

/**
 * The admin API's shapes, once: the handlers parse requests and type responses with them, the
 * OpenAPI document is generated from them (`openapi.ts`), and the dashboard imports their types.
 * Every schema a response uses is registered here under a component name. This module imports
 * only zod and pure constants, so the UI's type check can read it.
 */
export const components = z.registry<{ id: string; description?: string }>();

function component<T extends z.ZodType>(id: string, description: string, schema: T): T {
  components.add(schema, { id, description });
  return schema;
}

const count = z.number().int().min(0);
const bytes = z.number().int().min(0);
const time = z.iso.datetime();
const actionName = z.enum(["pull", "push", "delete", "admin"]);

export const ErrorBody = component(
  "Error",
  "What went wrong, in the registry's envelope",
  z.object({
    errors: z.array(
      z.object({
        code: z.string(),
        message: z.string(),
        detail: z.unknown().optional(),
      }),
    ),
  }),
);

// --- who is asking -------------------------------------------------------------------------

export const Caller = component(
  "Caller",
  "Who the request came from, how, and what the dashboard may offer them",
  z.object({
    /** null for anonymous callers. */
    user: z.string().nullable(),
    admin: z.boolean(),
    via: z.enum(["anonymous", "session", "basic", "bearer"]),
    /** Whether this wharf asks for credentials at all (`auth.enabled`). */
    authEnabled: z.boolean(),
    /** Sent back in `X-CSRF-Token` on every state-changing request made with the session cookie. */
    csrfToken: z.string().optional(),
    /** When the session ends unless used. */
    sessionExpiresAt: time.optional(),
  }),
);

export const LoginRequest = component(
  "LoginRequest",
  "A user's name and password (or an API token as the password)",
  z.object({ username: z.string().min(1).max(256), password: z.string().min(1).max(1024) }),
);

// --- repositories ---------------------------------------------------------------------------

export const RateLimit = component(
  "RateLimit",
  "An upstream's pull budget as it last reported it, and wharf's back-off after a 429",
  z.object({
    limit: z.number().optional(),
    remaining: z.number().optional(),
    windowSeconds: z.number().optional(),
    source: z.string().optional(),
    observedAt: time.optional(),
    backoffUntil: time.optional(),
    backoffReason: z.string().optional(),
  }),
);

export const CacheTotals = component(
  "CacheTotals",
  "Manifest and blob answers since the process started: from the store (hits) or upstream (misses), and their bytes",
  z.object({
    hits: count,
    misses: count,
    /** hits / (hits + misses); null before the first answer. */
    hitRatio: z.number().min(0).max(1).nullable(),
    bytesServed: bytes,
    bytesFetched: bytes,
    /** Bytes served that did not have to come from upstream. */
    bytesSaved: bytes,
  }),
);

export const SyncStatus = component(
  "SyncStatus",
  "One entry of a proxy repository's `sync:` list: its schedule, its last run and what came of it",
  z.object({
    image: z.string(),
    intervalSeconds: z.number(),
    /** Sync pauses while the upstream's budget is below this. */
    reserve: z.number(),
    lastRun: z
      .object({
        startedAt: time,
        finishedAt: time,
        result: z.enum(["ok", "paused", "failed"]),
        /** Tags chosen and looked at. */
        tags: count,
        /** Tags whose content was new. */
        pulled: z.array(z.string()),
        blobsFetched: count,
        reason: z.string().nullable(),
      })
      .nullable(),
    nextRunAt: time.nullable(),
  }),
);

export const Routing = component(
  "Routing",
  "How clients reach a repository",
  z.object({
    /** A listener port bound to this repository alone. */
    port: z.number().int().nullable(),
    /** The path prefix on the main port: `/v2/<prefix>/<image>/…`. */
    prefix: z.string(),
    /** Registry hosts containerd may name in `?ns=` to reach it. */
    namespaces: z.array(z.string()),
    /** The repository behind plain `/v2/<image>/…` on the main port. */
    isDefault: z.boolean(),
  }),
);

export const Repository = component(
  "Repository",
  "A repository as this caller may see it: counts and sizes cover only the images they may pull",
  z.object({
    name: z.string(),
    type: z.enum(["proxy", "hosted", "group"]),
    upstream: z
      .object({
        url: z.string(),
        /** The registry's name as clients write it (`docker.io`). */
        registry: z.string(),
        libraryPrefix: z.boolean(),
        tagTtlSeconds: z.number(),
        rateLimit: RateLimit,
      })
      .nullable(),
    members: z.array(z.string()),
    pushTo: z.string().nullable(),
    allowDelete: z.boolean(),
    routing: Routing,
    /** What this caller may do here with some image: the dashboard offers only that. */
    actions: z.array(actionName),
    /** Whether the caller may pull every image here: totals and traffic are shown only then. */
    seesAll: z.boolean(),
    images: count,
    size: z.object({ bytes: bytes.nullable(), cap: bytes.nullable() }),
    cache: CacheTotals.nullable(),
    sync: z.array(SyncStatus),
  }),
);

export const StoreSummary = component(
  "StoreSummary",
  "The store as last measured, against its bounds",
  z.object({
    bytes: bytes,
    cap: bytes.nullable(),
    freeBytes: bytes.nullable(),
    floorBytes: bytes.nullable(),
    measuredAt: time,
  }),
);

export const RepositoryList = component(
  "RepositoryList",
  "The repositories this caller may see, with the store and cache totals when they may see everything",
  z.object({
    version: z.string(),
    repositories: z.array(Repository),
    store: StoreSummary.nullable(),
    cache: CacheTotals.nullable(),
  }),
);

// --- images -----------------------------------------------------------------------------------

export const IMAGE_SORTS = ["name", "lastPulled", "pulls", "size", "created"] as const;

export const ImageQuery = z.object({
  /** Matches image names and tags (case-insensitive substring). */
  q: z.string().max(256).default(""),
  sort: z.enum(IMAGE_SORTS).default("name"),
  order: z.enum(["asc", "desc"]).default("asc"),
  /** Only tagged (`true`) or only untagged (`false`) images. */
  tagged: z.enum(["true", "false"]).optional(),
  /** Only images with this platform (`linux/arm64`). */
  platform: z
    .string()
    .regex(/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/)
    .optional(),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const ImageSummary = component(
  "ImageSummary",
  "An image: a top-level manifest (a platform image or an index) with its tags",
  z.object({
    /** The repository holding it (a group's member, or the repository itself). */
    repository: z.string(),
    name: z.string(),
    digest: z.string(),
    tags: z.array(z.string()),
    mediaType: z.string(),
    kind: z.enum(["image", "index", "artifact"]),
    /** `os/arch[/variant]` of each platform (an index's entries, or the image's config). */
    platforms: z.array(z.string()),
    /** Its manifests and the layers and configs linked here, each once. */
    size: bytes,
    /** When it was pushed here or fetched from upstream. */
    createdAt: time,
    lastPulledAt: time.nullable(),
    pulls: count.nullable(),
  }),
);

export const ImagePage = component(
  "ImagePage",
  "One page of a repository's images, filtered and sorted",
  z.object({
    images: z.array(ImageSummary),
    /** Images matching the filters, over all pages. */
    total: count,
    offset: count,
    limit: count,
    /** Platforms found among the matching images, for a filter. */
    platforms: z.array(z.string()),
  }),
);

export const ImageRef = z.object({
  name: z.string().min(1).max(512),
  /** A tag or a digest. */
  reference: z.string().min(1).max(256),
});

export const Layer = component(
  "Layer",
  "A blob an image manifest names",
  z.object({ digest: z.string(), mediaType: z.string(), size: bytes, stored: z.boolean() }),
);

export const PlatformImage = component(
  "PlatformImage",
  "One platform's image: its manifest, config and layers",
  z.object({
    platform: z.string().nullable(),
    digest: z.string(),
    mediaType: z.string(),
    /** Whether its manifest is stored here (a proxy keeps only the platforms pulled). */
    stored: z.boolean(),
    config: z
      .object({
        digest: z.string(),
        created: z.string().nullable(),
        os: z.string().nullable(),
        architecture: z.string().nullable(),
        variant: z.string().nullable(),
        labels: z.record(z.string(), z.string()),
        history: z.array(
          z.object({
            created: z.string().nullable(),
            createdBy: z.string().nullable(),
            comment: z.string().nullable(),
            emptyLayer: z.boolean(),
          }),
        ),
      })
      .nullable(),
    layers: z.array(Layer),
    /** Config and layers, as the manifest gives them. */
    size: bytes,
  }),
);

export const PullCommand = component(
  "PullCommand",
  "A command that pulls the image through wharf, for the host and route the caller used",
  z.object({
    client: z.enum(["docker", "podman", "nerdctl", "ctr", "skopeo"]),
    command: z.string(),
    /** What the client must be told first, when anything. */
    note: z.string().nullable(),
  }),
);

export const ImageDetail = component(
  "ImageDetail",
  "One image: its manifest or index, each platform's config and layers, its tags, referrers and pull commands",
  z.object({
    repository: z.string(),
    name: z.string(),
    digest: z.string(),
    mediaType: z.string(),
    kind: z.enum(["image", "index", "artifact"]),
    size: bytes,
    createdAt: time,
    lastPulledAt: time.nullable(),
    pulls: count.nullable(),
    tags: z.array(
      z.object({
        tag: z.string(),
        updatedAt: time,
        lastPulledAt: time.nullable(),
        pulls: count.nullable(),
      }),
    ),
    /** The manifest or index as stored (parsed JSON). */
    manifest: z.unknown(),
    platforms: z.array(PlatformImage),
    referrers: z.array(
      z.object({
        digest: z.string(),
        mediaType: z.string(),
        artifactType: z.string().nullable(),
        size: bytes,
      }),
    ),
    pull: z.array(PullCommand),
    /** Whether this caller may delete its tags and manifest here. */
    canDelete: z.boolean(),
  }),
);

export const Deleted = component(
  "Deleted",
  "What a delete removed",
  z.object({ deleted: z.enum(["tag", "manifest"]), name: z.string(), reference: z.string() }),
);

// --- time series and activity ------------------------------------------------------------------

export const SeriesQuery = z.object({
  /** `day`: per minute for the last 24 hours; `month`: per hour for the last 30 days. */
  range: z.enum(["day", "month"]).default("day"),
  /** One repository; all the caller may see by default. */
  repository: z.string().optional(),
});

export const Series = component(
  "Series",
  "wharf's own counters sampled per minute (kept a day) and per hour (kept a month)",
  z.object({
    resolution: z.enum(["minute", "hour"]),
    repositories: z.array(z.string()),
    points: z.array(
      z.object({
        /** The start of the interval. */
        at: time,
        hits: count,
        misses: count,
        bytesServed: bytes,
        bytesFetched: bytes,
        /** The lowest pull budget any of the upstreams shown reported in the interval, and its limit. */
        budgetRemaining: z.number().nullable(),
        budgetLimit: z.number().nullable(),
      }),
    ),
  }),
);

export const ActivityQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** Events older than this id (the last one of the previous page). */
  before: z.coerce.number().int().min(1).optional(),
  repository: z.string().optional(),
});

export const Activity = component(
  "Activity",
  "Recent events, newest first: pushes, first pulls of new content, deletes, evictions, refused logins",
  z.object({
    events: z.array(
      z.object({
        id: z.number().int(),
        at: time,
        kind: z.enum(ACTIVITY_KINDS),
        repository: z.string().nullable(),
        name: z.string().nullable(),
        reference: z.string().nullable(),
        user: z.string().nullable(),
        /** Bytes involved (an eviction's), when known. */
        bytes: bytes.nullable(),
        /** How many times it happened in this event (refused logins are counted per minute). */
        count: count,
        detail: z.string().nullable(),
      }),
    ),
  }),
);

// --- actions -------------------------------------------------------------------------------------

export const PrefetchRequest = component(
  "PrefetchRequest",
  "An image to pull into the cache, through the repository as a client would",
  z.object({
    name: z.string().min(1).max(512),
    reference: z.string().min(1).max(256).default("latest"),
    /** `os/arch[/variant]` entries of an index to fetch; all when absent. */
    platforms: z
      .array(z.string().regex(/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/))
      .max(16)
      .optional(),
  }),
);

export const Job = component(
  "Job",
  "A prefetch running or done",
  z.object({
    id: z.string(),
    repository: z.string(),
    image: z.string(),
    user: z.string().nullable(),
    state: z.enum(["running", "done", "failed"]),
    startedAt: time,
    finishedAt: time.nullable(),
    /** Config and layer blobs the image needs, once its manifests are read. */
    blobs: count.nullable(),
    /** Of those, the ones downloaded from upstream, and their bytes. */
    blobsFetched: count.nullable(),
    bytesFetched: bytes.nullable(),
    error: z.string().nullable(),
  }),
);

export const PruneRequest = component(
  "PruneRequest",
  "Evict what the caps and `max_unused` say must go; with dryRun, only say what that would be",
  z.object({ dryRun: z.boolean().default(true) }),
);

export const PruneResult = component(
  "PruneResult",
  "What a prune evicted (or would evict), least recently used first",
  z.object({
    dryRun: z.boolean(),
    evictions: z.array(
      z.object({
        repository: z.string(),
        name: z.string(),
        digest: z.string(),
        tags: z.array(z.string()),
        bytes: bytes,
        lastUsedAt: time,
        reason: z.string(),
      }),
    ),
    /** Bytes on disk that go (shared content counted once). */
    bytes: bytes,
  }),
);

// --- users and tokens ------------------------------------------------------------------------------

export const User = component(
  "User",
  "A user of wharf's own authentication",
  z.object({ name: z.string(), admin: z.boolean(), groups: z.array(z.string()), createdAt: time }),
);

export const UserList = component("UserList", "Every user", z.object({ users: z.array(User) }));

export const NewUser = component(
  "NewUser",
  "A user to create or change; without a password one is generated and returned once",
  z.object({
    name: z.string().min(1).max(128),
    password: z.string().min(8).max(1024).optional(),
    admin: z.boolean().default(false),
    groups: z.array(z.string().min(1).max(128)).max(64).default([]),
  }),
);

export const SavedUser = component(
  "SavedUser",
  "The user saved, and the password when wharf generated it (shown once)",
  z.object({ user: User, password: z.string().nullable() }),
);

const Scope = z.object({
  repositories: z.array(z.string().min(1)).min(1),
  names: z.array(z.string().min(1)).min(1),
  actions: z.array(actionName).min(1),
});

export const ApiToken = component(
  "ApiToken",
  "An API token (never its secret)",
  z.object({
    id: z.string(),
    user: z.string(),
    description: z.string(),
    scopes: z.array(Scope),
    state: z.enum(["active", "expired", "revoked"]),
    createdAt: time,
    expiresAt: time.nullable(),
    revokedAt: time.nullable(),
  }),
);

export const ApiTokenList = component(
  "ApiTokenList",
  "Every API token",
  z.object({ tokens: z.array(ApiToken) }),
);

export const NewApiToken = component(
  "NewApiToken",
  "A token for a robot: it never gets more than its user, and its scopes narrow that further",
  z.object({
    user: z.string().min(1).max(128),
    description: z.string().max(256).default(""),
    /** Everything the user may do, when absent. */
    scopes: z.array(Scope).max(32).optional(),
    expiresInDays: z.number().int().min(1).max(3650).optional(),
  }),
);

export const CreatedApiToken = component(
  "CreatedApiToken",
  "The token created and its secret, shown this once: use it as the user's password",
  z.object({ token: ApiToken, secret: z.string() }),
);

export type CallerBody = z.output<typeof Caller>;
export type RepositoryBody = z.output<typeof Repository>;
export type RepositoryListBody = z.output<typeof RepositoryList>;
export type ImagePageBody = z.output<typeof ImagePage>;
export type ImageDetailBody = z.output<typeof ImageDetail>;
export type PullCommandBody = z.output<typeof PullCommand>;
export type SeriesBody = z.output<typeof Series>;
export type ActivityBody = z.output<typeof Activity>;
export type ActivityEventBody = ActivityBody["events"][number];
export type JobBody = z.output<typeof Job>;
export type PruneResultBody = z.output<typeof PruneResult>;
export type UserBody = z.output<typeof User>;
export type ApiTokenBody = z.output<typeof ApiToken>;
export type CacheTotalsBody = z.output<typeof CacheTotals>;
export type StoreSummaryBody = z.output<typeof StoreSummary>;
export type ImageSort = (typeof IMAGE_SORTS)[number];

export const OpenApiDocument = component(
  "OpenApiDocument",
  "This document",
  z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.record(z.string(), z.unknown()) }),
);
