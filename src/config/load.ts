import { readFile } from "node:fs/promises";
import { type Document, isMap, isNode, isScalar, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { KeyPairError, readKeyPair } from "../util/tls-key-pair.js";
import { type ConfigIssue, crossCheck } from "./cross-check.js";
import { parseDuration } from "./duration.js";
import { type Config, configSchema, DOCKER_HUB_URL } from "./schema.js";

export interface ConfigProblem {
  /** Dotted path in the file, e.g. `repositories.docker-hub.upstream.url`. */
  readonly path: string;
  readonly message: string;
  /** 1-based line in the file, when the problem points at something written there. */
  readonly line?: number;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  readonly source: string;

  constructor(source: string, problems: ConfigProblem[]) {
    super(
      `${source}: ${problems.length} problem${problems.length === 1 ? "" : "s"}\n` +
        problems
          .map((p) => `  ${p.path || "(top level)"}${p.line ? ` (line ${p.line})` : ""}: ${p.message}`)
          .join("\n"),
    );
    this.name = "ConfigError";
    this.problems = problems;
    this.source = source;
  }
}

type Env = Readonly<Record<string, string | undefined>>;
type Path = readonly (string | number)[];

/** Finds the line of the thing at `path` in the YAML document; `atKey` asks for the line of its key. */
type Locator = (path: Path, atKey?: boolean) => number | undefined;

const nowhere: Locator = () => undefined;

function yamlLocator(document: Document, lineCounter: LineCounter): Locator {
  const lineOf = (node: unknown) =>
    isNode(node) && node.range ? lineCounter.linePos(node.range[0]).line : undefined;
  return (path, atKey) => {
    if (atKey && path.length > 0) {
      const parentPath = path.slice(0, -1);
      const parent = parentPath.length === 0 ? document.contents : document.getIn(parentPath, true);
      const key = String(path.at(-1));
      if (isMap(parent)) {
        const pair = parent.items.find((item) => isScalar(item.key) && String(item.key.value) === key);
        const line = lineOf(pair?.key);
        if (line !== undefined) return line;
      }
    }
    for (let depth = path.length; depth >= 0; depth--) {
      const line = lineOf(depth === 0 ? document.contents : document.getIn(path.slice(0, depth), true));
      if (line !== undefined) return line;
    }
    return undefined;
  };
}

function problem(path: Path, message: string, locate: Locator, atKey = false): ConfigProblem {
  const line = locate(path, atKey);
  return { path: path.map(String).join("."), message, ...(line === undefined ? {} : { line }) };
}

/**
 * Replaces `${NAME}` and `${NAME:-default}` in string values, so secrets stay in the
 * environment. Substitution happens after YAML parsing: a value can never inject YAML.
 */
function interpolate(value: unknown, env: Env, path: Path, missing: ConfigIssue[]): unknown {
  if (typeof value === "string") {
    return value.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
      (_whole, name: string, fallback?: string) => {
        const found = env[name];
        if (found !== undefined && (found !== "" || fallback === undefined)) return found;
        if (fallback !== undefined) return fallback;
        missing.push({ path, message: `environment variable ${name} is not set` });
        return "";
      },
    );
  }
  if (Array.isArray(value))
    return value.map((item, index) => interpolate(item, env, [...path, index], missing));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolate(item, env, [...path, key], missing)]),
    );
  }
  return value;
}

/**
 * registry:v2's environment variables, so wharf drops in where `docker run -e REGISTRY_PROXY_…
 * registry:2` stood. They describe the single Docker Hub proxy of a config-less start.
 */
function registryEnvironment(env: Env): Record<string, unknown> {
  const url = env.REGISTRY_PROXY_REMOTEURL || DOCKER_HUB_URL;
  const upstream: Record<string, unknown> = { url };
  if (env.REGISTRY_PROXY_USERNAME) upstream.username = env.REGISTRY_PROXY_USERNAME;
  if (env.REGISTRY_PROXY_PASSWORD !== undefined && env.REGISTRY_PROXY_USERNAME) {
    upstream.password = env.REGISTRY_PROXY_PASSWORD;
  }
  // A registry:v2 proxy stands for Docker Hub, where official images live under library/.
  upstream.library_prefix = env.WHARF_LIBRARY_PREFIX ? env.WHARF_LIBRARY_PREFIX !== "false" : true;
  const repository: Record<string, unknown> = { type: "proxy", upstream };
  if (env.WHARF_TAG_TTL) repository.tag_ttl = env.WHARF_TAG_TTL;
  // registry:v2 expires cached content this long after it was fetched (0: never); wharf counts
  // from the last pull instead, which is what its users wanted it to do.
  const ttl = env.REGISTRY_PROXY_TTL;
  if (ttl && parseDuration(ttl) !== 0) repository.max_unused = ttl;
  const cache = {
    ...(env.WHARF_CACHE_MAX_SIZE ? { max_size: env.WHARF_CACHE_MAX_SIZE } : {}),
    ...(env.WHARF_CACHE_MIN_FREE ? { min_free: env.WHARF_CACHE_MIN_FREE } : {}),
  };
  // registry:v2's `auth.htpasswd`: its users log in through wharf's token protocol instead.
  const htpasswd = env.REGISTRY_AUTH_HTPASSWD_PATH;
  const enabled = env.WHARF_AUTH !== "off";
  const auth = { auth: { enabled, ...(htpasswd ? { htpasswd } : {}) } };
  return { repositories: { "docker-hub": repository }, ...auth, cache };
}

/**
 * registry:v2's `REGISTRY_HTTP_TLS_*`. Like REGISTRY_HTTP_ADDR they win over the file too: a
 * variable meant to turn on HTTPS must never be ignored in silence.
 */
function tlsEnvironment(env: Env, fromFile: unknown): Record<string, unknown> | undefined {
  const cert = env.REGISTRY_HTTP_TLS_CERTIFICATE || undefined;
  const key = env.REGISTRY_HTTP_TLS_KEY || undefined;
  if (cert === undefined && key === undefined) return undefined;
  const base = typeof fromFile === "object" && fromFile !== null && !Array.isArray(fromFile) ? fromFile : {};
  return { ...base, ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

/** The files the configuration names, read as the server will read them: a problem each that cannot be. */
async function fileProblems(config: Config, locate: Locator): Promise<ConfigProblem[]> {
  if (config.tls === undefined) return [];
  try {
    await readKeyPair(config.tls);
    return [];
  } catch (error) {
    if (!(error instanceof KeyPairError)) throw error;
    return [problem(["tls", error.file], error.message, locate)];
  }
}

function zodProblems(error: z.ZodError, locate: Locator): ConfigProblem[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.filter((part): part is string | number => typeof part !== "symbol");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => problem([...path, key], `unknown field "${key}"`, locate, true));
    }
    return [problem(path, issue.message, locate)];
  });
}

export interface LoadOptions {
  readonly file?: string;
  readonly env?: Env;
  /** Command-line flags win over the file and the environment. */
  readonly listen?: string;
  readonly dataDir?: string;
  /** Also read the files the configuration names (TLS certificate and key) and report those that cannot serve. */
  readonly checkFiles?: boolean;
}

/** Parses YAML text into a plain object and a locator for its lines; syntax errors are fatal. */
function parseYaml(text: string, source: string): { value: unknown; locate: Locator } {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      source,
      document.errors.map((e) => ({
        path: "",
        message: e.message.split("\n")[0] ?? "",
        line: lineCounter.linePos(e.pos[0]).line,
      })),
    );
  }
  return { value: document.toJS() ?? {}, locate: yamlLocator(document, lineCounter) };
}

/** Reads, interpolates and validates the configuration; throws ConfigError listing every problem. */
export async function loadConfig(options: LoadOptions = {}): Promise<Readonly<Config>> {
  const env = options.env ?? process.env;
  const source = options.file ?? "environment";
  let input: Record<string, unknown>;
  let locate = nowhere;
  const missing: ConfigIssue[] = [];
  if (options.file) {
    const parsed = parseYaml(await readFile(options.file, "utf8"), source);
    locate = parsed.locate;
    if (typeof parsed.value !== "object" || parsed.value === null || Array.isArray(parsed.value)) {
      throw new ConfigError(source, [problem([], "the file must be a mapping of settings", locate)]);
    }
    input = interpolate(parsed.value, env, [], missing) as Record<string, unknown>;
  } else {
    input = registryEnvironment(env);
  }
  const addr = options.listen ?? env.REGISTRY_HTTP_ADDR;
  const dataDir = options.dataDir ?? env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY;
  const tls = tlsEnvironment(env, input.tls);
  const merged = {
    ...input,
    ...(addr ? { listen: addr } : {}),
    ...(dataDir ? { data_dir: dataDir } : {}),
    ...(tls ? { tls } : {}),
  };
  const parsed = configSchema.safeParse(merged);
  // An unset variable leaves an empty value that other checks may complain about, at its place or
  // at the object holding it: the unset variable is the one problem worth reporting there.
  const unset = missing.map((issue) => issue.path.join("."));
  const causedByUnset = (p: ConfigProblem) =>
    unset.some((path) => path === p.path || path.startsWith(`${p.path}.`));
  const problems = [
    ...missing.map((issue) => problem(issue.path, issue.message, locate)),
    ...[
      ...(parsed.success ? [] : zodProblems(parsed.error, locate)),
      ...crossCheck(merged).map((issue) => problem(issue.path, issue.message, locate, issue.atKey)),
      ...(parsed.success && options.checkFiles ? await fileProblems(parsed.data, locate) : []),
    ].filter((p) => !causedByUnset(p)),
  ];
  if (problems.length > 0 || !parsed.success) throw new ConfigError(source, problems);
  return deepFreeze(env.WHARF_FETCH_AHEAD === "off" ? withoutFetchAhead(parsed.data) : parsed.data);
}

/** `WHARF_FETCH_AHEAD=off`: no proxy fetches ahead, whatever the file says (a switch for operators and tests). */
function withoutFetchAhead(config: Config): Config {
  const repositories = Object.fromEntries(
    Object.entries(config.repositories).map(([name, repository]) => [
      name,
      repository.type === "proxy"
        ? { ...repository, fetch_ahead: { ...repository.fetch_ahead, enabled: false } }
        : repository,
    ]),
  );
  return { ...config, repositories };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
