import fs from "node:fs";
import path from "node:path";
import { removeAtExitIfNew } from "../system/host-paths.js";

// Shared setup for the containers/image tools (skopeo, podman): private config files and an
// environment that reads nothing from the host's /etc/containers or ~/.docker.

export interface ContainersFiles {
  policy: string;
  authFile: string;
  registriesConf: string;
  env: NodeJS.ProcessEnv;
}

export interface MirrorRule {
  /** Image name prefix, e.g. "docker.io". */
  prefix: string;
  /** Where the prefix really lives; default the prefix itself. */
  location?: string;
  /** Tried in order before `location`. */
  mirrors?: string[];
  /** Plain HTTP / unverified TLS for location and mirrors. */
  insecure?: boolean;
}

/** registries.conf text; unqualified names resolve through docker.io like on a stock install. */
export function registriesConf(rules: MirrorRule[]): string {
  const lines = ['unqualified-search-registries = ["docker.io"]', 'short-name-mode = "permissive"', ""];
  for (const rule of rules) {
    const insecure = rule.insecure ?? true;
    lines.push("[[registry]]", `prefix = "${rule.prefix}"`, `location = "${rule.location ?? rule.prefix}"`);
    if (rule.location) lines.push(`insecure = ${insecure}`);
    for (const mirror of rule.mirrors ?? []) {
      lines.push("", "[[registry.mirror]]", `location = "${mirror}"`, `insecure = ${insecure}`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

/**
 * docker.io through a mirror at host:port. With fallback (default) the client tries the mirror and
 * then docker.io; without, docker.io is rewritten to the mirror.
 */
export function dockerHubMirror(
  mirror: string,
  opts: { fallback?: boolean; insecure?: boolean } = {},
): string {
  const insecure = opts.insecure ?? true;
  return opts.fallback === false
    ? registriesConf([{ prefix: "docker.io", location: mirror, insecure }])
    : registriesConf([{ prefix: "docker.io", mirrors: [mirror], insecure }]);
}

export function writeContainersFiles(dir: string, registries = registriesConf([])): ContainersFiles {
  const policy = path.join(dir, "policy.json");
  const authFile = path.join(dir, "auth.json");
  const conf = path.join(dir, "registries.conf");
  const tmp = path.join(dir, "tmp");
  fs.mkdirSync(tmp, { recursive: true });
  fs.writeFileSync(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  fs.writeFileSync(authFile, "{}");
  fs.writeFileSync(conf, registries);
  // containers/image keeps a blob-info cache here when run as root, whatever the other settings
  removeAtExitIfNew("/var/lib/containers");
  return {
    policy,
    authFile,
    registriesConf: conf,
    env: {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: dir,
      TMPDIR: tmp,
      REGISTRY_AUTH_FILE: authFile,
      CONTAINERS_REGISTRIES_CONF: conf,
    },
  };
}
