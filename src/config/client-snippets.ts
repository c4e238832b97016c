import { DOCKER_HUB_HOSTS } from "../oci/docker-hub.js";
import { defaultRepositoryOf } from "./derived.js";
import type { Config } from "./schema.js";

export interface SnippetOptions {
  /** How clients reach wharf's main listener, `host:port`. */
  readonly address: string;
  /** Plain HTTP (no TLS on the listener): clients must be told the registry is insecure. */
  readonly insecure: boolean;
}

// Over HTTPS a certificate from a public CA needs nothing more; one from the site's own CA needs
// that CA where each client looks for it, which is said next to each snippet.
const PRIVATE_CA = "wharf's certificate is from a private CA?";

/** A proxy repository as clients know its upstream: the registry name they pull from. */
interface Mirror {
  readonly repository: string;
  /** The name clients use (`docker.io`, `ghcr.io`). */
  readonly registry: string;
  /** Where containerd goes when wharf cannot answer. */
  readonly server: string;
}

function mirrors(config: Config): Mirror[] {
  return Object.entries(config.repositories).flatMap(([repository, settings]) => {
    if (settings.type !== "proxy") return [];
    const url = new URL(settings.upstream.url);
    const hub = DOCKER_HUB_HOSTS.includes(url.hostname);
    return [{ repository, registry: hub ? "docker.io" : url.host, server: url.origin }];
  });
}

/** The repository behind plain `/v2/<image>` on the main port, if it serves Docker Hub content. */
function servesDockerHubAtRoot(config: Config, hub: Mirror | undefined): boolean {
  if (!hub) return false;
  const fallback = defaultRepositoryOf(config);
  if (fallback === hub.repository) return true;
  const settings = fallback === undefined ? undefined : config.repositories[fallback];
  return settings?.type === "group" && settings.members.includes(hub.repository);
}

function dockerd(config: Config, options: SnippetOptions, hub: Mirror | undefined): string {
  const scheme = options.insecure ? "http" : "https";
  if (!servesDockerHubAtRoot(config, hub)) {
    return "# dockerd mirrors only Docker Hub, at the root of a host: make a Docker Hub proxy (or a group\n# containing it) the default_repository to use wharf from dockerd.\n";
  }
  const daemon = {
    "registry-mirrors": [`${scheme}://${options.address}`],
    ...(options.insecure ? { "insecure-registries": [options.address] } : {}),
  };
  // Not inside the JSON, which allows no comments.
  const ca = options.insecure
    ? ""
    : `# ${PRIVATE_CA} dockerd reads it only from /etc/docker/certs.d/${options.address}/ca.crt\n`;
  return `${ca}# /etc/docker/daemon.json (then restart dockerd; dockerd mirrors Docker Hub only)\n${JSON.stringify(daemon, null, 2)}\n`;
}

function registriesConf(all: readonly Mirror[], options: SnippetOptions): string {
  const lines = ["# /etc/containers/registries.conf.d/wharf.conf (podman, skopeo, buildah, CRI-O)"];
  if (!options.insecure)
    lines.push(`# ${PRIVATE_CA} Put it in /etc/containers/certs.d/${options.address}/ca.crt`);
  for (const mirror of all) {
    lines.push(
      "",
      "[[registry]]",
      `prefix = "${mirror.registry}"`,
      `location = "${mirror.registry}"`,
      "[[registry.mirror]]",
      `location = "${options.address}/${mirror.repository}"`,
      ...(options.insecure ? ["insecure = true"] : []),
    );
  }
  lines.push(
    "",
    "# wharf itself, for pushes and direct pulls",
    "[[registry]]",
    `location = "${options.address}"`,
  );
  if (options.insecure) lines.push("insecure = true");
  return `${lines.join("\n")}\n`;
}

function hostsToml(mirror: Mirror, options: SnippetOptions): string {
  const scheme = options.insecure ? "http" : "https";
  const server = mirror.registry === "docker.io" ? "https://registry-1.docker.io" : mirror.server;
  return [
    `# /etc/containerd/certs.d/${mirror.registry}/hosts.toml (set config_path = "/etc/containerd/certs.d")`,
    `server = "${server}"`,
    "",
    `[host."${scheme}://${options.address}"]`,
    '  capabilities = ["pull", "resolve"]',
    ...(options.insecure
      ? []
      : [
          `  # ${PRIVATE_CA} Uncomment, naming its file:`,
          `  # ca = "/etc/containerd/certs.d/${mirror.registry}/wharf-ca.crt"`,
        ]),
    "",
  ].join("\n");
}

/**
 * Ready-to-paste client settings for this configuration: dockerd's daemon.json (Docker Hub
 * only, as dockerd allows), a registries.conf mirror per upstream (by path prefix), and a
 * containerd hosts.toml per upstream (containerd adds `?ns=<registry>`, which wharf routes by).
 */
export function clientSnippets(config: Config, options: SnippetOptions): string {
  const all = mirrors(config);
  const hub = all.find((mirror) => mirror.registry === "docker.io");
  return [
    dockerd(config, options, hub),
    registriesConf(all, options),
    ...all.map((mirror) => hostsToml(mirror, options)),
  ].join("\n");
}
