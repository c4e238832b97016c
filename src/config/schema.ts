import { validRange } from "semver";
import { z } from "zod";
import { parseDuration } from "./duration.js";
import { parseSize } from "./size.js";

/** A duration in YAML (`60s`, `5m`, `0`) as milliseconds. */
const duration = z.union([z.string(), z.number()]).transform((value, context) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    context.addIssue({ code: "custom", message: `"${value}" is not a duration (try 30s, 5m, 1h or 0)` });
    return z.NEVER;
  }
  return ms;
});

const positiveDuration = duration.refine((ms) => ms > 0, { message: "must be more than 0" });

/** A size in YAML (`500MiB`, `10GB`, a number of bytes) as bytes. */
const size = z.union([z.string(), z.number()]).transform((value, context) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    context.addIssue({ code: "custom", message: `"${value}" is not a size (try 500MiB or 10GB)` });
    return z.NEVER;
  }
  return bytes;
});

/** A TCP port; digit strings too, so `port: ${PORT}` works after interpolation. */
const port = z
  .union([z.number(), z.string().regex(/^\d+$/).transform(Number)], { error: "must be a port number" })
  .pipe(z.number().int().min(1, "must be 1-65535").max(65535, "must be 1-65535"));

/** `host:port`, `:port` or a bare port, as registry:v2's `http.addr` takes it. */
const listenAddress = z
  .union([z.string(), z.number()])
  .transform((value) => String(value))
  .refine(
    (value) => {
      const match = /^(?:(?:\[[0-9a-fA-F:.]+\]|[^:\s]*):)?(\d{1,5})$/.exec(value);
      return match !== null && Number(match[1]) >= 1 && Number(match[1]) <= 65535;
    },
    { message: "must be host:port, :port or a port (1-65535)" },
  );

/** A file wharf reads; a relative path is taken from the working directory, like data_dir. */
const filePath = z.string({ error: "must be the path of a file" }).min(1, "must be the path of a file");

/** HTTPS on every listener. The files are re-read when they change. */
const tls = z
  .object({
    /** The server's certificate in PEM, followed by any intermediate certificates. */
    cert: filePath,
    /** Its private key in PEM, unencrypted. */
    key: filePath,
  })
  .strict();

const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === "" ? undefined : value));

const upstream = z
  .object({
    url: z.url({ protocol: /^https?$/, message: "must be an http:// or https:// URL" }),
    // Empty counts as unset, so `${DOCKERHUB_USER:-}` in a shared file means "pull anonymously".
    username: optionalText,
    password: optionalText,
    /**
     * Docker Hub keeps official images under `library/`: with this on, `busybox` and
     * `library/busybox` are one repository. On by default for Docker Hub's own hosts.
     */
    library_prefix: z.boolean().optional(),
    timeouts: z
      .object({
        headers: duration.default(30_000),
        body_idle: duration.default(60_000),
      })
      .strict()
      .default({ headers: 30_000, body_idle: 60_000 }),
  })
  .strict()
  .refine((value) => (value.username === undefined) === (value.password === undefined), {
    message: "username and password go together",
  })
  // Credentials in the URL would be shown wherever the URL is (status page, logs): they are
  // taken out of it and used as username and password.
  .refine((value) => !hasUserInfo(value.url) || value.username === undefined, {
    message: "credentials are both in the URL and in username/password: keep one",
    path: ["url"],
  })
  .transform((value) => (hasUserInfo(value.url) ? withoutUserInfo(value) : value));

function hasUserInfo(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const parsed = new URL(url);
  return parsed.username !== "" || parsed.password !== "";
}

function withoutUserInfo<T extends { url: string }>(value: T): T & { username: string; password: string } {
  const parsed = new URL(value.url);
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = "";
  parsed.password = "";
  return { ...value, url: parsed.toString().replace(/\/$/, ""), username, password };
}

const common = {
  /** A listener port bound to this repository alone (Nexus' "connector"). */
  port: port.optional(),
};

/**
 * An image never to evict: a name glob (`library/postgres`, `team/**`) keeps every image of the
 * names it matches, a `name:tag` glob (`library/node:20*`) the images those tags point at.
 */
const keepPattern = z
  .string()
  .min(1)
  .refine((value) => !/[@\s]/.test(value) && value.split(":").length <= 2, {
    message: "must be an image name glob, optionally with :tag glob (e.g. library/node:20*)",
  });

/**
 * One image a proxy keeps fresh on a schedule (zot's periodic sync): the tags listed, and those of
 * the upstream's tag list that match `regex` and `semver` (both when both are given), of which
 * only the `newest` N by version when that is given. Unchanged tags cost a HEAD, new ones are pulled
 * whole; a run pauses while the upstream's remaining pull budget is under `reserve`.
 */
const syncEntry = z
  .object({
    /** The image name in the repository (`library/nginx`). */
    image: z.string().min(1),
    /** Exact tags. */
    tags: z.array(z.string().min(1)).min(1).optional(),
    /** Tags matching this regular expression. */
    regex: z.string().min(1).refine(isRegExp, { message: "must be a regular expression" }).optional(),
    /** Tags whose version is in this range (`>=1.26 <1.28`, `^20`); `v1.2` and `1.2` read as 1.2.0. */
    semver: z
      .string()
      .min(1)
      .refine((range) => validRange(range) !== null, {
        message: "must be a semver range (e.g. >=1.26 <1.28)",
      })
      .optional(),
    /** Of the tags matched (or of every tag that reads as a version), the newest N by version. */
    newest: z.number().int().min(1).optional(),
    /** Only these platforms of an index (`linux/amd64`); all by default. */
    platforms: z
      .array(z.string().regex(/^[^/\s]+\/[^/\s]+(?:\/[^/\s]+)?$/, "must be os/arch or os/arch/variant"))
      .min(1)
      .optional(),
    interval: positiveDuration.default(3_600_000),
    /** Pulls of the upstream's budget left to people: below it, the run pauses until the next. */
    reserve: z.number().int().min(0).default(10),
  })
  .strict()
  .refine((entry) => entry.tags ?? entry.regex ?? entry.semver ?? entry.newest, {
    message: "say which tags: tags, regex, semver or newest",
  });

function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

const FETCH_AHEAD_DEFAULTS = { enabled: true, concurrency: 8, idle_timeout: 30_000 };

/**
 * Layers fetched ahead: once a manifest is fetched or revalidated, the image's blobs not cached
 * yet are downloaded before clients ask for them (see the README's Performance section).
 */
const fetchAhead = z
  .object({
    enabled: z.boolean().default(FETCH_AHEAD_DEFAULTS.enabled),
    /** Downloads nobody asked for yet that run at once in this repository. */
    concurrency: z.number().int().min(1).max(64).default(FETCH_AHEAD_DEFAULTS.concurrency),
    /** An image nobody asked anything of for this long is abandoned: the rest is not fetched. */
    idle_timeout: positiveDuration.default(FETCH_AHEAD_DEFAULTS.idle_timeout),
  })
  .strict();

const proxyRepository = z
  .object({
    type: z.literal("proxy"),
    upstream,
    /** How long a tag is trusted before a HEAD upstream revalidates it; 0 revalidates every time. */
    tag_ttl: duration.default(60_000),
    /** The most this repository's cached images may take; eviction keeps it under (see `cache`). */
    max_size: size.optional(),
    /** Images nobody pulled for this long are evicted, whatever the sizes (e.g. `30d`). */
    max_unused: positiveDuration.optional(),
    /** Images that are never evicted (pins). */
    keep: z.array(keepPattern).optional(),
    /** Images kept fresh on a schedule. */
    sync: z.array(syncEntry).optional(),
    fetch_ahead: fetchAhead.default(FETCH_AHEAD_DEFAULTS),
    ...common,
  })
  .strict();

const hostedRepository = z
  .object({
    type: z.literal("hosted"),
    allow_delete: z.boolean().default(true),
    ...common,
  })
  .strict();

const groupRepository = z
  .object({
    type: z.literal("group"),
    members: z.array(z.string().min(1)).min(1),
    /** The hosted member that receives pushes to the group. */
    push_to: z.string().min(1).optional(),
    ...common,
  })
  .strict();

const repository = z.discriminatedUnion("type", [proxyRepository, hostedRepository, groupRepository]);

const action = z.enum(["pull", "push", "delete", "admin"]);
const actions = z.array(action).default([]);
const patterns = z.array(z.string().min(1)).min(1);

/** One access rule: where it applies, and what it grants to whom. */
const rule = z
  .object({
    /** Repository names or patterns (`*`); all by default. */
    repositories: patterns.default(["*"]),
    /** Image-name patterns inside them (`*` within a path segment, `**` across); all by default. */
    names: patterns.default(["**"]),
    anonymous: actions,
    authenticated: actions,
    users: z.record(z.string(), z.array(action)).default({}),
    groups: z.record(z.string(), z.array(action)).default({}),
  })
  .strict();

const auth = z
  .object({
    /**
     * On by default, so a fresh wharf is safe on a site network; `false` opens everything to
     * everyone (a cache on a trusted network, as registry:v2 runs without auth).
     */
    enabled: z.boolean().default(true),
    /** The token service name (the JWT audience). */
    service: z.string().min(1).default("wharf"),
    /** Where clients fetch tokens; by default `<scheme>://<the host the client used>/token`. */
    realm: z.url().optional(),
    token_ttl: duration.default(300_000),
    /** An htpasswd file (bcrypt entries, as registry:v2 uses) whose users are imported at start. */
    htpasswd: z.string().min(1).optional(),
    /** The access rules; without any, the defaults: anonymous pull of proxies, users pull and push. */
    rules: z.array(rule).optional(),
  })
  .strict();

/**
 * Blobs and upload sessions in an S3 bucket instead of the data directory: any endpoint, addressed
 * path-style (Ceph RGW, MinIO, AWS). Several wharf nodes may share one bucket.
 */
const s3Storage = z
  .object({
    endpoint: z.url({ protocol: /^https?$/, message: "must be an http:// or https:// URL" }),
    bucket: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name (3-63 of a-z, 0-9, '.', '-')"),
    region: z.string().min(1).default("us-east-1"),
    access_key: z.string().min(1, "must not be empty"),
    secret_key: z.string().min(1, "must not be empty"),
    /** Put before every key, so one bucket can hold more than wharf's objects. */
    prefix: z
      .string()
      .default("")
      .refine((value) => !value.startsWith("/") && !value.includes("//"), {
        message: "must not start with / or contain //",
      })
      .transform((value) => (value === "" || value.endsWith("/") ? value : `${value}/`)),
    /**
     * Answer blob GETs with a redirect to a presigned URL, so the bytes flow from the store to the
     * client: only where every client can reach the store's endpoint.
     */
    redirect: z.boolean().default(false),
    /** Bytes per part of a blob's multipart upload: larger parts, fewer requests per blob. */
    part_size: size
      .refine((bytes) => bytes >= 5 * 1024 * 1024, { message: "must be at least 5MiB (S3's smallest part)" })
      .default(16 * 1024 * 1024),
  })
  .strict();

const storage = z
  .object({
    s3: s3Storage.optional(),
  })
  .strict();

/** Metadata, users and tokens in PostgreSQL instead of the data directory's SQLite files. */
const database = z
  .object({
    /** `postgres://user:password@host:5432/wharf`, with libpq's parameters (`?sslmode=require`). */
    url: z.string().refine((value) => /^postgres(ql)?:\/\/./.test(value) && URL.canParse(value), {
      message: "must be a postgres:// URL",
    }),
    /** Connections each node keeps at most for content metadata (auth takes a few more). */
    max_connections: z
      .union([z.number(), z.string().regex(/^\d+$/).transform(Number)], { error: "must be a number" })
      .pipe(z.number().int().min(1, "must be at least 1"))
      .default(10),
  })
  .strict();

/** What a fresh wharf allows a client before it refuses or hangs up; see `limits` in the README. */
const LIMIT_DEFAULTS = {
  headers_timeout: 30_000,
  keep_alive_timeout: 65_000,
  max_header_size: 16 * 1024,
  max_connections: 10_000,
  body_idle_timeout: 60_000,
  body_min_rate: 1024,
};

const limits = z
  .object({
    /** The request line and headers must have arrived within this (slowloris); else 408 and close. */
    headers_timeout: positiveDuration.default(LIMIT_DEFAULTS.headers_timeout),
    /** A connection idle between requests is closed after this. */
    keep_alive_timeout: positiveDuration.default(LIMIT_DEFAULTS.keep_alive_timeout),
    /** The largest request head; beyond it the answer is 431. */
    max_header_size: size
      .refine((bytes) => bytes >= 1024, { message: "must be at least 1KiB" })
      .default(LIMIT_DEFAULTS.max_header_size),
    /** Open connections per listener; more are closed as soon as they are accepted. */
    max_connections: z
      .union([z.number(), z.string().regex(/^\d+$/).transform(Number)], { error: "must be a number" })
      .pipe(z.number().int().min(1, "must be at least 1"))
      .default(LIMIT_DEFAULTS.max_connections),
    /**
     * A request body may fall this far behind `body_min_rate` (and so stall at most this long)
     * before the request is answered 408 and the connection closed; 0 turns the guard off.
     */
    body_idle_timeout: duration.default(LIMIT_DEFAULTS.body_idle_timeout),
    /** Bytes a second a request body must keep up on average; 0 leaves only the idle timeout. */
    body_min_rate: size.default(LIMIT_DEFAULTS.body_min_rate),
  })
  .strict();

const CACHE_DEFAULTS = { low_water: 0.9, check_interval: 60_000 };

/**
 * The bounds of the whole store. Proxies' cached images are evicted, least recently pulled first,
 * to keep it under `max_size` and the data directory's disk above `min_free`; hosted content and
 * pinned images are never evicted. Each repository's own `max_size` and `max_unused` apply as well.
 */
const cache = z
  .object({
    /** The most the store may hold (every repository together, hosted content included). */
    max_size: size.optional(),
    /** Free space to keep on the disk of the data directory. */
    min_free: size.optional(),
    /**
     * How far an eviction goes once started: down to this fraction of each cap (and up to
     * `min_free / low_water` free), so the next one is not due at the next pull.
     */
    low_water: z
      .number()
      .gt(0, "must be above 0")
      .max(1, "must be at most 1")
      .default(CACHE_DEFAULTS.low_water),
    /** How often sizes and free space are measured (a disk that fills up starts an eviction at once). */
    check_interval: positiveDuration.default(CACHE_DEFAULTS.check_interval),
  })
  .strict();

const USAGE_DEFAULTS = { enabled: true, flush_interval: 60_000 };

/** Pull counts and last-pull times (what eviction orders by), kept in memory and written in batches. */
const usage = z
  .object({
    /** Off, eviction orders images by when they were cached instead of when they were last pulled. */
    enabled: z.boolean().default(USAGE_DEFAULTS.enabled),
    /** How often recorded pulls are written: the precision of "last pulled", and what a crash loses. */
    flush_interval: positiveDuration.default(USAGE_DEFAULTS.flush_interval),
  })
  .strict();

/**
 * This node among the nodes sharing a database: where the others reach it (to stream a download it
 * runs). Without it, its main listener's address, or the machine's host name when it listens on
 * every interface.
 */
const cluster = z
  .object({
    advertise: z.url({ protocol: /^https?$/, message: "must be an http:// or https:// URL" }),
  })
  .strict();

/** How `wharf serve` writes its log; also `--log-format` and `WHARF_LOG_FORMAT`. */
export const LOG_FORMATS = ["auto", "json", "pretty"] as const;
export type LogFormatSetting = (typeof LOG_FORMATS)[number];

export const DOCKER_HUB_URL = "https://registry-1.docker.io";

export const configSchema = z
  .object({
    listen: listenAddress.default(":5000"),
    data_dir: z.string().min(1).default("./data"),
    tls: tls.optional(),
    /** Where blobs are kept; without it, `data_dir`. */
    storage: storage.optional(),
    /** Where metadata, users and tokens are kept; without it, SQLite files in `data_dir`. */
    database: database.optional(),
    /** How this node is reached by the other nodes sharing its `database`. */
    cluster: cluster.optional(),
    log: z
      .object({
        level: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
        /** `auto`: lines for people on a terminal, JSON lines otherwise (a pipe, the journal, a file). */
        format: z.enum(LOG_FORMATS).default("auto"),
      })
      .strict()
      .default({ level: "info", format: "auto" }),
    /**
     * After SIGTERM or SIGINT, how long requests and downloads in flight may take to finish before
     * they are cut off; a service manager's stop timeout should be longer.
     */
    shutdown_grace: duration.default(30_000),
    uploads: z
      .object({
        /** The largest blob a client may push. */
        max_size: size.default(10 * 1024 ** 3),
        /** An upload nobody has touched for this long is discarded. */
        expire_after: duration.default(24 * 3_600_000),
      })
      .strict()
      .default({ max_size: 10 * 1024 ** 3, expire_after: 24 * 3_600_000 }),
    auth: auth.default({ enabled: true, service: "wharf", token_ttl: 300_000 }),
    limits: limits.default(LIMIT_DEFAULTS),
    cache: cache.default(CACHE_DEFAULTS),
    usage: usage.default(USAGE_DEFAULTS),
    /** The repository for plain `/v2/<image>/…` on the main port: what dockerd's registry-mirrors sends. */
    default_repository: z.string().optional(),
    /** Names are checked by crossCheck(), which can say what a good name looks like. */
    repositories: z.record(z.string(), repository).default(() => ({
      "docker-hub": proxyRepository.parse({ type: "proxy", upstream: { url: DOCKER_HUB_URL } }),
    })),
  })
  .strict();

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type RepositoryConfig = Config["repositories"][string];
export type ProxyRepositoryConfig = Extract<RepositoryConfig, { type: "proxy" }>;
export type HostedRepositoryConfig = Extract<RepositoryConfig, { type: "hosted" }>;
export type GroupRepositoryConfig = Extract<RepositoryConfig, { type: "group" }>;
export type AuthConfig = NonNullable<Config["auth"]>;
export type CacheConfig = Config["cache"];
export type SyncConfig = NonNullable<ProxyRepositoryConfig["sync"]>[number];
export type UsageConfig = Config["usage"];
