import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import fc from "fast-check";
import { parseDuration } from "../../src/config/duration.js";
import { ConfigError, type ConfigProblem, type LoadOptions, loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { checkProperty, tempDir } from "./helpers.js";

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

describe("parseDuration", () => {
  const valid: ReadonlyArray<readonly [string | number, number]> = [
    ["90s", 90_000],
    ["5m", 300_000],
    ["1h30m", 5_400_000],
    ["250ms", 250],
    ["1d", 86_400_000],
    ["1.5h", 5_400_000],
    ["1m1s", 61_000],
    ["2h0m", 7_200_000],
    ["1s500ms", 1500],
    [" 5m ", 300_000],
    ["0", 0],
    ["30", 30_000],
    ["0.5", 500],
    [0, 0],
    [30, 30_000],
    [0.25, 250],
  ];
  for (const [value, expected] of valid) {
    test(`${JSON.stringify(value)} is ${expected} ms`, () => assert.equal(parseDuration(value), expected));
  }

  const invalid: ReadonlyArray<string | number> = [
    "",
    "   ",
    "abc",
    "s",
    "m5",
    "5x",
    "5M",
    "5 m",
    "1h 30m",
    "-5s",
    "-5",
    "1.5.5s",
    ".5s",
    "5s!",
    -1,
    Number.NaN,
    Number.POSITIVE_INFINITY,
  ];
  for (const value of invalid) {
    test(`${JSON.stringify(value) ?? String(value)} is not a duration`, () => {
      assert.equal(parseDuration(value), undefined);
    });
  }

  test("sums any sequence of number-unit parts", () => {
    const part = fc.tuple(
      fc.nat({ max: 1000 }),
      fc.constantFrom(...(Object.keys(UNIT_MS) as (keyof typeof UNIT_MS)[])),
    );
    checkProperty(
      fc.property(fc.array(part, { minLength: 1, maxLength: 5 }), (parts) => {
        const text = parts.map(([n, unit]) => `${n}${unit}`).join("");
        const expected = parts.reduce((sum, [n, unit]) => sum + n * UNIT_MS[unit], 0);
        assert.equal(parseDuration(text), expected);
      }),
    );
  });

  test("never throws, and gives undefined or a finite, non-negative number of milliseconds", () => {
    const text = fc.oneof(
      fc.string(),
      fc.string({ unit: fc.constantFrom("1", "9", ".", "m", "s", "h", "d", " ") }),
      fc.stringMatching(/^\d{300,400}(s|m)?$/),
    );
    checkProperty(
      fc.property(fc.oneof(text, fc.double()), (value) => {
        const ms = parseDuration(value);
        if (ms !== undefined) assert.ok(Number.isFinite(ms) && ms >= 0, `${String(value)} → ${ms}`);
      }),
    );
  });
});

type Env = Record<string, string | undefined>;

/** Marks the lines a problem may point at; a problem about a block may name its key or first line. */
const MARK = "# <-";

async function writeConfig(t: TestContext, yaml: string): Promise<string> {
  const file = join(await tempDir(t, "config"), "wharf.yaml");
  await writeFile(file, yaml);
  return file;
}

async function load(t: TestContext, yaml: string, options: Omit<LoadOptions, "file"> = {}): Promise<Config> {
  return loadConfig({ env: {}, ...options, file: await writeConfig(t, yaml) });
}

async function problemsOf(action: Promise<unknown>): Promise<readonly ConfigProblem[]> {
  try {
    await action;
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.ok(error.problems.length > 0);
    // The message lists every problem, so an operator sees them all in one log line.
    for (const problem of error.problems) assert.ok(error.message.includes(problem.message));
    return error.problems;
  }
  return assert.fail("expected a ConfigError");
}

/** `${body}` as the config file writes it. */
function ref(body: string): string {
  return `$\{${body}}`;
}

function markedLines(yaml: string): number[] {
  return yaml.split("\n").flatMap((line, index) => (line.includes(MARK) ? [index + 1] : []));
}

function findProblem(problems: readonly ConfigProblem[], paths: readonly string[]): ConfigProblem {
  const found = problems.find((problem) => paths.includes(problem.path));
  assert.ok(found, `no problem at ${paths.join(" or ")}; got ${JSON.stringify(problems)}`);
  return found;
}

const MINIMAL = `
repositories:
  hub:
    type: proxy
    upstream:
      url: https://registry-1.docker.io
`;

const FULL = `
listen: "127.0.0.1:5000"
data_dir: /var/lib/wharf
log:
  level: debug
default_repository: all
cache:
  max_size: 500GiB
  min_free: 10GB
  low_water: 0.8
  check_interval: 30s
usage:
  flush_interval: 2m
repositories:
  docker-hub:
    type: proxy
    port: 5001
    tag_ttl: 5m
    max_size: 200GiB
    max_unused: 30d
    keep: [library/postgres, "library/node:20*", "team/**"]
    upstream:
      url: https://registry-1.docker.io
      username: bob
      password: \${HUB_TOKEN}
      library_prefix: true
      timeouts:
        headers: 10s
        body_idle: 1m
  ghcr.io:
    type: proxy
    tag_ttl: 0
    upstream:
      url: https://ghcr.io
  private:
    type: hosted
    allow_delete: false
  all:
    type: group
    members: [private, docker-hub, ghcr.io]
    push_to: private
`;

const DEFAULT_TIMEOUTS = { headers: 30_000, body_idle: 60_000 };
const DEFAULT_UPLOADS = { max_size: 10 * 1024 ** 3, expire_after: 24 * 3_600_000 };
/** Authentication is on unless the configuration turns it off: a fresh wharf is safe to expose. */
const DEFAULT_AUTH = { enabled: true, service: "wharf", token_ttl: 300_000 };
const DEFAULT_LIMITS = {
  headers_timeout: 30_000,
  keep_alive_timeout: 65_000,
  max_header_size: 16 * 1024,
  max_connections: 10_000,
  body_idle_timeout: 60_000,
  body_min_rate: 1024,
};

const DEFAULT_CACHE = { low_water: 0.9, check_interval: 60_000 };
const DEFAULT_USAGE = { enabled: true, flush_interval: 60_000 };

/** Every top-level setting but the repositories, as a configuration that sets none of them gets it. */
const DEFAULT_TOP_LEVEL = {
  listen: ":5000",
  data_dir: "./data",
  log: { level: "info", format: "auto" },
  shutdown_grace: 30_000,
  uploads: DEFAULT_UPLOADS,
  auth: DEFAULT_AUTH,
  limits: DEFAULT_LIMITS,
  cache: DEFAULT_CACHE,
  usage: DEFAULT_USAGE,
};

/** Layers fetched ahead: on, eight at a time, an image abandoned after 30 s without a request. */
const DEFAULT_FETCH_AHEAD = { enabled: true, concurrency: 8, idle_timeout: 30_000 };

describe("loadConfig from a file", () => {
  test("a minimal file gets every default", async (t) => {
    assert.deepEqual(await load(t, MINIMAL), {
      ...DEFAULT_TOP_LEVEL,
      repositories: {
        hub: {
          type: "proxy",
          upstream: { url: "https://registry-1.docker.io", timeouts: DEFAULT_TIMEOUTS },
          tag_ttl: 60_000,
          fetch_ahead: DEFAULT_FETCH_AHEAD,
        },
      },
    });
  });

  test("an empty file is the default Docker Hub proxy", async (t) => {
    const config = await load(t, "");
    assert.deepEqual(Object.keys(config.repositories), ["docker-hub"]);
    assert.equal(config.repositories["docker-hub"]?.type, "proxy");
  });

  test("a full file is read field by field", async (t) => {
    assert.deepEqual(await load(t, FULL, { env: { HUB_TOKEN: "s3cret" } }), {
      listen: "127.0.0.1:5000",
      data_dir: "/var/lib/wharf",
      log: { level: "debug", format: "auto" },
      shutdown_grace: 30_000,
      uploads: DEFAULT_UPLOADS,
      auth: DEFAULT_AUTH,
      limits: DEFAULT_LIMITS,
      cache: { max_size: 500 * 1024 ** 3, min_free: 10e9, low_water: 0.8, check_interval: 30_000 },
      usage: { enabled: true, flush_interval: 120_000 },
      default_repository: "all",
      repositories: {
        "docker-hub": {
          type: "proxy",
          port: 5001,
          tag_ttl: 300_000,
          fetch_ahead: DEFAULT_FETCH_AHEAD,
          max_size: 200 * 1024 ** 3,
          max_unused: 30 * 86_400_000,
          keep: ["library/postgres", "library/node:20*", "team/**"],
          upstream: {
            url: "https://registry-1.docker.io",
            username: "bob",
            password: "s3cret",
            library_prefix: true,
            timeouts: { headers: 10_000, body_idle: 60_000 },
          },
        },
        "ghcr.io": {
          type: "proxy",
          tag_ttl: 0,
          fetch_ahead: DEFAULT_FETCH_AHEAD,
          upstream: { url: "https://ghcr.io", timeouts: DEFAULT_TIMEOUTS },
        },
        private: { type: "hosted", allow_delete: false },
        all: { type: "group", members: ["private", "docker-hub", "ghcr.io"], push_to: "private" },
      },
    });
  });

  test("limits are read with their units, and 0 turns the body guard off", async (t) => {
    const yaml = `${MINIMAL}
limits:
  headers_timeout: 5s
  keep_alive_timeout: 1m
  max_header_size: 32KiB
  max_connections: "2000"
  body_idle_timeout: 0
  body_min_rate: 0
`;
    assert.deepEqual((await load(t, yaml)).limits, {
      headers_timeout: 5000,
      keep_alive_timeout: 60_000,
      max_header_size: 32 * 1024,
      max_connections: 2000,
      body_idle_timeout: 0,
      body_min_rate: 0,
    });
  });

  test("the result is deeply frozen", async (t) => {
    const config = await load(t, FULL, { env: { HUB_TOKEN: "x" } });
    const unfrozen: string[] = [];
    const walk = (value: unknown, path: string): void => {
      if (value === null || typeof value !== "object") return;
      if (!Object.isFrozen(value)) unfrozen.push(path || "(root)");
      for (const [key, inner] of Object.entries(value)) walk(inner, `${path}.${key}`);
    };
    walk(config, "");
    assert.deepEqual(unfrozen, []);
    assert.throws(() => {
      (config as { listen: string }).listen = ":1";
    }, TypeError);
    assert.throws(() => {
      (config.repositories.all as { members: string[] }).members.push("x");
    }, TypeError);
  });

  test("command-line flags win over the file and the environment", async (t) => {
    const yaml = `listen: ":5000"\ndata_dir: /from/file\n${MINIMAL}`;
    const env = { REGISTRY_HTTP_ADDR: ":7000", REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: "/from/env" };
    const fromEnv = await load(t, yaml, { env });
    assert.equal(fromEnv.listen, ":7000");
    assert.equal(fromEnv.data_dir, "/from/env");
    const fromFlags = await load(t, yaml, { env, listen: "127.0.0.1:8000", dataDir: "/from/flag" });
    assert.equal(fromFlags.listen, "127.0.0.1:8000");
    assert.equal(fromFlags.data_dir, "/from/flag");
  });

  test("a missing file is an error", async () => {
    await assert.rejects(loadConfig({ file: "/nonexistent/wharf.yaml", env: {} }), { code: "ENOENT" });
  });
});

describe("loadConfig reports each mistake with its path and line", () => {
  const mistakes: ReadonlyArray<{ why: string; yaml: string; paths: readonly string[]; message: RegExp }> = [
    {
      why: "an unknown key in a block",
      yaml: `
repositories:
  hub:
    type: proxy
    upstream:
      url: https://registry.example
      usrname: me ${MARK}
`,
      paths: ["repositories.hub.upstream", "repositories.hub.upstream.usrname"],
      message: /usrname/,
    },
    {
      why: "an unknown top-level key",
      yaml: `
listen: ":5000"
repositories:
  hub:
    type: hosted
cache_size: 10 ${MARK}
`,
      paths: ["", "cache_size"],
      message: /cache_size/,
    },
    {
      why: "a string where a port number belongs",
      yaml: `
repositories:
  hub:
    type: hosted
    port: "abc" ${MARK}
`,
      paths: ["repositories.hub.port"],
      message: /number/,
    },
    {
      why: "a port out of range",
      yaml: `
repositories:
  hub:
    type: hosted
    port: 70000 ${MARK}
`,
      paths: ["repositories.hub.port"],
      message: /./,
    },
    {
      why: "a string where a boolean belongs",
      yaml: `
repositories:
  hub:
    type: hosted
    allow_delete: "yes" ${MARK}
`,
      paths: ["repositories.hub.allow_delete"],
      message: /boolean/,
    },
    {
      why: "an ftp URL",
      yaml: `
repositories:
  hub:
    type: proxy
    upstream:
      url: ftp://registry.example ${MARK}
`,
      paths: ["repositories.hub.upstream.url"],
      message: /http/,
    },
    {
      why: "a URL that is not one",
      yaml: `
repositories:
  hub:
    type: proxy
    upstream:
      url: registry.example ${MARK}
`,
      paths: ["repositories.hub.upstream.url"],
      message: /URL/,
    },
    {
      why: "a bad tag_ttl",
      yaml: `
repositories:
  hub:
    type: proxy
    tag_ttl: 5 minutes ${MARK}
    upstream:
      url: https://registry.example
`,
      paths: ["repositories.hub.tag_ttl"],
      message: /5 minutes.*not a duration/,
    },
    {
      why: "a bad timeout",
      yaml: `
repositories:
  hub:
    type: proxy
    upstream:
      url: https://registry.example
      timeouts:
        headers: fast ${MARK}
`,
      paths: ["repositories.hub.upstream.timeouts.headers"],
      message: /not a duration/,
    },
    {
      why: "a username without a password",
      yaml: `
repositories:
  hub:
    type: proxy
    upstream: ${MARK}
      url: https://registry.example ${MARK}
      username: me
`,
      paths: ["repositories.hub.upstream"],
      message: /username and password/,
    },
    {
      why: "a group member that does not exist",
      yaml: `
repositories:
  hosted:
    type: hosted
  all:
    type: group
    members:
      - hosted
      - missing ${MARK}
`,
      paths: ["repositories.all.members.1"],
      message: /missing/,
    },
    {
      why: "a group that is its own member",
      yaml: `
repositories:
  all:
    type: group
    members: [all] ${MARK}
`,
      paths: ["repositories.all.members.0"],
      message: /all/,
    },
    {
      why: "push_to outside the group",
      yaml: `
repositories:
  a:
    type: hosted
  b:
    type: hosted
  all:
    type: group
    members: [a]
    push_to: b ${MARK}
`,
      paths: ["repositories.all.push_to"],
      message: /member/,
    },
    {
      why: "an unknown repository type",
      yaml: `
repositories:
  hub:
    type: mirror ${MARK}
`,
      paths: ["repositories.hub.type", "repositories.hub"],
      message: /proxy/,
    },
    {
      why: "a default repository that does not exist",
      yaml: `
default_repository: nope ${MARK}
repositories:
  hub:
    type: hosted
`,
      paths: ["default_repository"],
      message: /nope/,
    },
    {
      why: "no repositories",
      yaml: `repositories: {} ${MARK}\n`,
      paths: ["repositories"],
      message: /at least one/,
    },
    {
      why: "a listen address without a port",
      yaml: `listen: localhost ${MARK}\n`,
      paths: ["listen"],
      message: /port/,
    },
    {
      why: "a listen port beyond 65535",
      yaml: `listen: ":70000" ${MARK}\n`,
      paths: ["listen"],
      message: /port/,
    },
    {
      why: "an unknown log level",
      yaml: `
log:
  level: verbose ${MARK}
`,
      paths: ["log.level"],
      message: /./,
    },
    {
      why: "a repository name with upper case",
      yaml: `
repositories:
  Hub: ${MARK}
    type: hosted ${MARK}
`,
      paths: ["repositories", "repositories.Hub"],
      message: /lower-case/,
    },
    {
      why: "a YAML syntax error",
      yaml: `
repositories:
  hub:
    type: hosted
  - broken ${MARK}
`,
      paths: [""],
      message: /./,
    },
    {
      why: "a headers timeout of 0, which would let a client take forever over its headers",
      yaml: `
repositories:
  hub:
    type: hosted
limits:
  headers_timeout: 0 ${MARK}
`,
      paths: ["limits.headers_timeout"],
      message: /more than 0/,
    },
    {
      why: "a connection limit of 0",
      yaml: `
repositories:
  hub:
    type: hosted
limits:
  max_connections: 0 ${MARK}
`,
      paths: ["limits.max_connections"],
      message: /at least 1/,
    },
    {
      why: "an unknown limit",
      yaml: `
repositories:
  hub:
    type: hosted
limits:
  body_timeout: 10s ${MARK}
`,
      paths: ["limits", "limits.body_timeout"],
      message: /body_timeout/,
    },
    {
      why: "a pin with a digest, which names no image to keep",
      yaml: `
repositories:
  hub:
    type: proxy
    upstream:
      url: https://registry.example
    keep:
      - library/busybox@sha256:abc ${MARK}
`,
      paths: ["repositories.hub.keep.0"],
      message: /name glob/,
    },
    {
      why: "a low-water mark above 1",
      yaml: `
repositories:
  hub:
    type: hosted
cache:
  low_water: 1.5 ${MARK}
`,
      paths: ["cache.low_water"],
      message: /at most 1/,
    },
    {
      why: "a size cap that is not a size",
      yaml: `
repositories:
  hub:
    type: proxy
    upstream:
      url: https://registry.example
    max_size: lots ${MARK}
`,
      paths: ["repositories.hub.max_size"],
      message: /not a size/,
    },
    {
      why: "a duplicate key",
      yaml: `
repositories:
  hub:
    type: hosted
  hub: ${MARK}
    type: hosted
`,
      paths: [""],
      message: /unique/,
    },
  ];
  for (const { why, yaml, paths, message } of mistakes) {
    test(why, async (t) => {
      const problem = findProblem(await problemsOf(load(t, yaml)), paths);
      assert.match(problem.message, message);
      assert.ok(
        problem.line !== undefined && markedLines(yaml).includes(problem.line),
        `line ${problem.line}, expected one of ${markedLines(yaml).join(", ")}`,
      );
    });
  }

  test("every problem in the file is reported at once", async (t) => {
    const yaml = `
repositories:
  hosted:
    type: hosted
    colour: blue
    port: "abc"
  all:
    type: group
    members: [hosted, missing]
`;
    const problems = await problemsOf(load(t, yaml));
    findProblem(problems, ["repositories.hosted", "repositories.hosted.colour"]);
    findProblem(problems, ["repositories.hosted.port"]);
    findProblem(problems, ["repositories.all.members.1"]);
  });

  const notMappings: ReadonlyArray<readonly [string, string]> = [
    ["a plain scalar (a mistyped `listen: …`)", "listen=:6000\n"],
    ["a quoted scalar", '"repositories"\n'],
    ["a number", "5000\n"],
    ["a list", "- repositories\n"],
  ];
  for (const [why, yaml] of notMappings) {
    test(`a file that is ${why} is refused, not read as the defaults`, async (t) => {
      await problemsOf(load(t, yaml));
    });
  }
});

describe("loadConfig interpolates environment variables in values", () => {
  const REPOSITORY = (password: string, name = "hub") => `
repositories:
  ${name}:
    type: proxy
    upstream:
      url: https://registry.example
      username: me
      password: ${password} ${MARK}
`;

  async function passwordOf(t: TestContext, value: string, env: Env): Promise<string | undefined> {
    const config = await load(t, REPOSITORY(value), { env });
    const hub = config.repositories.hub;
    assert.equal(hub?.type, "proxy");
    return hub?.type === "proxy" ? hub.upstream.password : undefined;
  }

  const cases: ReadonlyArray<readonly [string, string, Env, string]> = [
    ["a set variable", ref("TOKEN"), { TOKEN: "s3cret" }, "s3cret"],
    ["a default for an unset variable", ref("TOKEN:-fallback"), {}, "fallback"],
    ["a default for an empty variable", ref("TOKEN:-fallback"), { TOKEN: "" }, "fallback"],
    ["a set variable despite a default", ref("TOKEN:-fallback"), { TOKEN: "s3cret" }, "s3cret"],
    ["an empty default", `'${ref("TOKEN:-")}x'`, {}, "x"],
    ["variables inside text", `'${ref("A")}-${ref("B:-b")}-${ref("A")}'`, { A: "a" }, "a-b-a"],
    ["dollar signs that are not variables", "'pa$$word$'", {}, "pa$$word$"],
    ["a value that looks like YAML stays a string", ref("TOKEN"), { TOKEN: "a: b\n- c" }, "a: b\n- c"],
    [
      "a value that looks like another variable is not expanded again",
      ref("A"),
      { A: ref("B"), B: "x" },
      ref("B"),
    ],
  ];
  for (const [why, value, env, expected] of cases) {
    test(why, async (t) => assert.equal(await passwordOf(t, value, env), expected));
  }

  test("an unset variable is an error naming it, with path and line", async (t) => {
    const yaml = REPOSITORY(ref("HUB_TOKEN"));
    const problem = findProblem(await problemsOf(load(t, yaml)), ["repositories.hub.upstream.password"]);
    assert.match(problem.message, /HUB_TOKEN/);
    assert.deepEqual(problem.line, markedLines(yaml)[0]);
  });

  test("an unset variable in a repository whose name has a dot gets the right line", async (t) => {
    const yaml = REPOSITORY(ref("GHCR_TOKEN"), "ghcr.io");
    const [problem, ...rest] = await problemsOf(load(t, yaml));
    assert.deepEqual(rest, []);
    assert.match(problem?.message ?? "", /GHCR_TOKEN/);
    assert.equal(problem?.line, markedLines(yaml)[0]);
  });

  test("every unset variable is reported, also inside lists", async (t) => {
    const yaml = `
repositories:
  a:
    type: hosted
  all:
    type: group
    members: ["\${FIRST}", "\${SECOND}"]
`;
    const problems = await problemsOf(load(t, yaml));
    assert.deepEqual(
      problems.map((p) => p.path),
      ["repositories.all.members.0", "repositories.all.members.1"],
    );
    assert.match(problems[0]?.message ?? "", /FIRST/);
    assert.match(problems[1]?.message ?? "", /SECOND/);
  });

  test("variables inside lists are substituted", async (t) => {
    const yaml = `
repositories:
  a:
    type: hosted
  all:
    type: group
    members: ["\${MEMBER}"]
`;
    const config = await load(t, yaml, { env: { MEMBER: "a" } });
    assert.deepEqual(config.repositories.all, { type: "group", members: ["a"] });
  });
});

describe("loadConfig without a file reads registry:v2's environment", () => {
  test("nothing set: a Docker Hub proxy on :5000", async () => {
    assert.deepEqual(await loadConfig({ env: {} }), {
      ...DEFAULT_TOP_LEVEL,
      repositories: {
        "docker-hub": {
          type: "proxy",
          upstream: { url: "https://registry-1.docker.io", library_prefix: true, timeouts: DEFAULT_TIMEOUTS },
          tag_ttl: 60_000,
          fetch_ahead: DEFAULT_FETCH_AHEAD,
        },
      },
    });
  });

  test("authentication: on unless WHARF_AUTH=off; REGISTRY_AUTH_HTPASSWD_PATH imports its users", async () => {
    assert.equal((await loadConfig({ env: {} })).auth.enabled, true);
    assert.equal((await loadConfig({ env: { WHARF_AUTH: "off" } })).auth.enabled, false);
    const htpasswd = (await loadConfig({ env: { REGISTRY_AUTH_HTPASSWD_PATH: "/etc/registry/htpasswd" } }))
      .auth;
    assert.deepEqual([htpasswd.enabled, htpasswd.htpasswd], [true, "/etc/registry/htpasswd"]);
  });

  test("REGISTRY_PROXY_*, REGISTRY_HTTP_ADDR and WHARF_TAG_TTL", async () => {
    const config = await loadConfig({
      env: {
        REGISTRY_PROXY_REMOTEURL: "https://mirror.example",
        REGISTRY_PROXY_USERNAME: "bob",
        REGISTRY_PROXY_PASSWORD: "s3cret",
        REGISTRY_HTTP_ADDR: "0.0.0.0:6000",
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: "/var/lib/registry",
        WHARF_TAG_TTL: "5m",
      },
    });
    assert.equal(config.listen, "0.0.0.0:6000");
    assert.equal(config.data_dir, "/var/lib/registry");
    const hub = config.repositories["docker-hub"];
    assert.ok(hub?.type === "proxy");
    assert.equal(hub.tag_ttl, 300_000);
    assert.equal(hub.upstream.url, "https://mirror.example");
    assert.equal(hub.upstream.username, "bob");
    assert.equal(hub.upstream.password, "s3cret");
    assert.ok(Object.isFrozen(hub.upstream));
  });

  test("REGISTRY_PROXY_TTL is how long an unused image stays (0: forever); WHARF_CACHE_* bound the store", async () => {
    const config = await loadConfig({
      env: { REGISTRY_PROXY_TTL: "168h", WHARF_CACHE_MAX_SIZE: "100GiB", WHARF_CACHE_MIN_FREE: "5GB" },
    });
    const hub = config.repositories["docker-hub"];
    assert.ok(hub?.type === "proxy");
    assert.equal(hub.max_unused, 168 * 3_600_000);
    assert.deepEqual(config.cache, { ...DEFAULT_CACHE, max_size: 100 * 1024 ** 3, min_free: 5e9 });
    const forever = (await loadConfig({ env: { REGISTRY_PROXY_TTL: "0" } })).repositories["docker-hub"];
    assert.ok(forever?.type === "proxy");
    assert.equal(forever.max_unused, undefined);
  });

  test("a password without a username is ignored", async () => {
    const config = await loadConfig({ env: { REGISTRY_PROXY_PASSWORD: "s3cret" } });
    const hub = config.repositories["docker-hub"];
    assert.ok(hub?.type === "proxy");
    assert.equal(hub.upstream.username, undefined);
    assert.equal(hub.upstream.password, undefined);
  });

  const mistakes: ReadonlyArray<readonly [string, Env, string, RegExp]> = [
    [
      "a username without a password",
      { REGISTRY_PROXY_USERNAME: "bob" },
      "repositories.docker-hub.upstream",
      /password/,
    ],
    ["a bad WHARF_TAG_TTL", { WHARF_TAG_TTL: "soon" }, "repositories.docker-hub.tag_ttl", /soon/],
    [
      "a bad REGISTRY_PROXY_REMOTEURL",
      { REGISTRY_PROXY_REMOTEURL: "ftp://x" },
      "repositories.docker-hub.upstream.url",
      /http/,
    ],
    ["a bad REGISTRY_HTTP_ADDR", { REGISTRY_HTTP_ADDR: "localhost" }, "listen", /port/],
  ];
  for (const [why, env, path, message] of mistakes) {
    test(why, async () => {
      const problem = findProblem(await problemsOf(loadConfig({ env })), [path]);
      assert.match(problem.message, message);
      assert.equal(problem.line, undefined);
    });
  }
});

describe("the tls section", () => {
  const TLS = (cert: string, key: string) => `
tls:
  cert: ${cert}
  key: ${key}
repositories:
  internal:
    type: hosted
`;

  test("names a certificate and a key file; left out, wharf speaks plain HTTP", async (t) => {
    const config = await load(t, TLS("/etc/wharf/tls.crt", "/etc/wharf/tls.key"));
    assert.deepEqual(config.tls, { cert: "/etc/wharf/tls.crt", key: "/etc/wharf/tls.key" });
    assert.equal((await load(t, MINIMAL)).tls, undefined);
  });

  const mistakes: ReadonlyArray<{ why: string; yaml: string; path: string; message: RegExp }> = [
    {
      why: "a key without a certificate",
      yaml: `
tls:
  key: /etc/wharf/tls.key ${MARK}
`,
      path: "tls.cert",
      message: /path of a file/,
    },
    {
      why: "an empty certificate path",
      yaml: `
tls:
  cert: "" ${MARK}
  key: /etc/wharf/tls.key
`,
      path: "tls.cert",
      message: /path of a file/,
    },
    {
      why: "registry:v2's spelling inside the file",
      yaml: `
tls:
  certificate: /etc/wharf/tls.crt ${MARK}
  cert: /etc/wharf/tls.crt
  key: /etc/wharf/tls.key
`,
      path: "tls.certificate",
      message: /unknown field/,
    },
  ];
  for (const { why, yaml, path, message } of mistakes) {
    test(why, async (t) => {
      const problem = findProblem(await problemsOf(load(t, yaml)), [path]);
      assert.match(problem.message, message);
      assert.ok(
        problem.line !== undefined && markedLines(yaml).includes(problem.line),
        `line ${problem.line}`,
      );
    });
  }

  test("checkFiles reads the files: one missing, or not a certificate, is a problem at its line", async (t) => {
    const dir = await tempDir(t, "tls");
    const missing = findProblem(
      await problemsOf(
        load(t, TLS(join(dir, "nowhere.crt"), join(dir, "nowhere.key")), { checkFiles: true }),
      ),
      ["tls.cert", "tls.key"],
    );
    assert.match(missing.message, /cannot read \S+nowhere\.(crt|key): no such file/);
    assert.equal(missing.line, missing.path === "tls.cert" ? 3 : 4);
    const garbage = join(dir, "garbage.pem");
    await writeFile(garbage, "not PEM at all\n");
    const notCert = findProblem(await problemsOf(load(t, TLS(garbage, garbage), { checkFiles: true })), [
      "tls.cert",
    ]);
    assert.match(notCert.message, /holds no PEM certificate/);
    assert.equal(notCert.line, 3);
  });

  test("without checkFiles the files are not read (client-config needs no key)", async (t) => {
    const config = await load(t, TLS("/nonexistent/tls.crt", "/nonexistent/tls.key"));
    assert.equal(config.tls?.cert, "/nonexistent/tls.crt");
  });

  test("REGISTRY_HTTP_TLS_CERTIFICATE and REGISTRY_HTTP_TLS_KEY, without a file and over one", async (t) => {
    const env = { REGISTRY_HTTP_TLS_CERTIFICATE: "/run/tls.crt", REGISTRY_HTTP_TLS_KEY: "/run/tls.key" };
    assert.deepEqual((await loadConfig({ env })).tls, { cert: "/run/tls.crt", key: "/run/tls.key" });
    const overFile = await load(t, TLS("/etc/wharf/tls.crt", "/etc/wharf/tls.key"), {
      env: { REGISTRY_HTTP_TLS_KEY: "/run/tls.key" },
    });
    assert.deepEqual(overFile.tls, { cert: "/etc/wharf/tls.crt", key: "/run/tls.key" });
    const half = findProblem(
      await problemsOf(loadConfig({ env: { REGISTRY_HTTP_TLS_CERTIFICATE: "/run/tls.crt" } })),
      ["tls.key"],
    );
    assert.match(half.message, /path of a file/);
  });
});

describe("the storage and database sections", () => {
  const BACKENDS = `
storage:
  s3:
    endpoint: \${S3_ENDPOINT}
    bucket: wharf-blobs
    access_key: \${S3_ACCESS_KEY}
    secret_key: \${S3_SECRET_KEY}
    prefix: site-a
database:
  url: postgres://wharf:\${PGPASSWORD}@db.example:5432/wharf
repositories:
  internal:
    type: hosted
`;
  const ENV = {
    S3_ENDPOINT: "http://127.0.0.1:7480",
    S3_ACCESS_KEY: "AK",
    S3_SECRET_KEY: "SK",
    PGPASSWORD: "pw",
  };

  test("name a bucket and a database, from the environment, with their defaults; left out, the data directory", async (t) => {
    const config = await load(t, BACKENDS, { env: ENV });
    assert.deepEqual(config.storage, {
      s3: {
        endpoint: "http://127.0.0.1:7480",
        bucket: "wharf-blobs",
        region: "us-east-1",
        access_key: "AK",
        secret_key: "SK",
        prefix: "site-a/",
        redirect: false,
        part_size: 16 * 1024 * 1024,
      },
    });
    assert.deepEqual(config.database, {
      url: "postgres://wharf:pw@db.example:5432/wharf",
      max_connections: 10,
    });
    const plain = await load(t, MINIMAL);
    assert.equal(plain.storage, undefined);
    assert.equal(plain.database, undefined);
  });

  const mistakes: ReadonlyArray<{ why: string; yaml: string; path: string; message: RegExp }> = [
    {
      why: "a bucket name S3 refuses",
      yaml: `
storage:
  s3:
    endpoint: http://127.0.0.1:7480
    bucket: Wharf_Blobs ${MARK}
    access_key: a
    secret_key: b
`,
      path: "storage.s3.bucket",
      message: /bucket name/,
    },
    {
      why: "no credentials",
      yaml: `
storage:
  s3:
    endpoint: http://127.0.0.1:7480 ${MARK}
    bucket: wharf
`,
      path: "storage.s3.access_key",
      message: /./,
    },
    {
      why: "an endpoint that is no URL",
      yaml: `
storage:
  s3:
    endpoint: 127.0.0.1:7480 ${MARK}
    bucket: wharf
    access_key: a
    secret_key: b
`,
      path: "storage.s3.endpoint",
      message: /http/,
    },
    {
      why: "registry:v2's spelling of the section",
      yaml: `
storage:
  s3:
    endpoint: http://127.0.0.1:7480
    bucket: wharf
    accesskey: a ${MARK}
    access_key: a
    secret_key: b
`,
      path: "storage.s3.accesskey",
      message: /unknown field|Unrecognized/i,
    },
    {
      why: "a database URL of another kind",
      yaml: `
database:
  url: mysql://db.example/wharf ${MARK}
`,
      path: "database.url",
      message: /postgres:\/\//,
    },
    {
      why: "a cluster section without the database its nodes share",
      yaml: `
cluster:
  advertise: http://10.0.0.11:5000 ${MARK}
`,
      path: "cluster",
      message: /share a database/,
    },
    {
      why: "an advertised address that is no URL",
      yaml: `
database:
  url: postgres://db.example/wharf
cluster:
  advertise: 10.0.0.11:5000 ${MARK}
`,
      path: "cluster.advertise",
      message: /http/,
    },
  ];
  for (const { why, yaml, path, message } of mistakes) {
    test(why, async (t) => {
      const problem = findProblem(await problemsOf(load(t, yaml)), [path]);
      assert.match(problem.message, message);
      assert.ok(
        problem.line !== undefined && markedLines(yaml).includes(problem.line),
        `line ${problem.line}`,
      );
    });
  }
});
