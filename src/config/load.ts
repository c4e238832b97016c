import { readFile } from "node:fs/promises";
import { isNode, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
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

/**
 * Replaces `${NAME}` and `${NAME:-default}` in string values, so secrets stay in the
 * environment. Substitution happens after YAML parsing: a value can never inject YAML.
 */
function interpolate(value: unknown, env: Env, path: string, problems: ConfigProblem[]): unknown {
  if (typeof value === "string") {
    return value.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
      (_whole, name: string, fallback?: string) => {
        const found = env[name];
        if (found !== undefined && found !== "") return found;
        if (fallback !== undefined) return fallback;
        problems.push({ path, message: `environment variable ${name} is not set` });
        return "";
      },
    );
  }
  if (Array.isArray(value))
    return value.map((item, index) => interpolate(item, env, `${path}.${index}`, problems));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        interpolate(item, env, path ? `${path}.${key}` : key, problems),
      ]),
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
  // A registry:v2 proxy always stands for Docker Hub, where official images live under library/.
  upstream.library_prefix = env.WHARF_LIBRARY_PREFIX ? env.WHARF_LIBRARY_PREFIX !== "false" : true;
  const repository: Record<string, unknown> = { type: "proxy", upstream };
  if (env.WHARF_TAG_TTL) repository.tag_ttl = env.WHARF_TAG_TTL;
  return { repositories: { "docker-hub": repository } };
}

function toProblems(error: z.ZodError, locate: (path: PropertyKey[]) => number | undefined): ConfigProblem[] {
  return error.issues.map((issue) => {
    const keys =
      "keys" in issue && Array.isArray(issue.keys) ? ` ${issue.keys.map((k) => `"${k}"`).join(", ")}` : "";
    const message = issue.code === "unrecognized_keys" ? `unknown field${keys}` : issue.message;
    const line = locate(issue.path);
    return { path: issue.path.map(String).join("."), message, ...(line === undefined ? {} : { line }) };
  });
}

export interface LoadOptions {
  readonly file?: string;
  readonly env?: Env;
  /** Command-line flags win over the file and the environment. */
  readonly listen?: string;
  readonly dataDir?: string;
}

/** Reads, interpolates and validates the configuration; throws ConfigError listing every problem. */
export async function loadConfig(options: LoadOptions = {}): Promise<Readonly<Config>> {
  const env = options.env ?? process.env;
  let input: Record<string, unknown>;
  let locate: (path: PropertyKey[]) => number | undefined = () => undefined;
  const source = options.file ?? "environment";
  if (options.file) {
    const text = await readFile(options.file, "utf8");
    const lineCounter = new LineCounter();
    const document = parseDocument(text, { lineCounter, prettyErrors: false });
    if (document.errors.length > 0) {
      throw new ConfigError(
        source,
        document.errors.map((e) => ({
          path: "",
          message: e.message.split("\n")[0] ?? "",
          line: e.linePos?.[0]?.line,
        })),
      );
    }
    locate = (path) => {
      for (let depth = path.length; depth >= 0; depth--) {
        const node = document.getIn(path.slice(0, depth), true);
        if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
      }
      return undefined;
    };
    const problems: ConfigProblem[] = [];
    const interpolated = interpolate(document.toJS() ?? {}, env, "", problems);
    input =
      typeof interpolated === "object" && interpolated !== null
        ? (interpolated as Record<string, unknown>)
        : {};
    if (problems.length > 0)
      throw new ConfigError(
        source,
        problems.map((p) => withLine(p, locate)),
      );
  } else {
    input = registryEnvironment(env);
  }
  const addr = options.listen ?? env.REGISTRY_HTTP_ADDR;
  const dataDir = options.dataDir ?? env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY;
  const merged = { ...input, ...(addr ? { listen: addr } : {}), ...(dataDir ? { data_dir: dataDir } : {}) };
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(source, toProblems(parsed.error, locate));
  return deepFreeze(parsed.data);
}

function withLine(
  problem: ConfigProblem,
  locate: (path: PropertyKey[]) => number | undefined,
): ConfigProblem {
  const line = locate(problem.path.split(".").filter(Boolean));
  return line === undefined ? problem : { ...problem, line };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
