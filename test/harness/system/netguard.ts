import fs from "node:fs";
import path from "node:path";

/** Names a client may fall back to when a mirror fails; pinned to 127.0.0.1 by loopbackOnly(). */
export const DOCKER_HUB_HOSTS = [
  "registry-1.docker.io",
  "docker.io",
  "index.docker.io",
  "registry.docker.io",
  "auth.docker.io",
  "production.cloudflare.docker.com",
];

/**
 * Wraps a command so it runs in a private mount namespace whose /etc/hosts maps the Docker Hub
 * names to 127.0.0.1 and whose resolv.conf points at 127.0.0.1: a client falling back to
 * docker.io gets "connection refused" instead of leaving the machine. Needs root (unshare -m).
 */
export function loopbackOnly(
  dir: string,
  command: string,
  args: string[],
): { command: string; args: string[] } {
  const hosts = path.join(dir, "netguard-hosts");
  const resolv = path.join(dir, "netguard-resolv.conf");
  fs.writeFileSync(
    hosts,
    `127.0.0.1 localhost\n127.0.0.1 ${DOCKER_HUB_HOSTS.join(" ")}\n::1 localhost ip6-localhost\n`,
  );
  fs.writeFileSync(resolv, "nameserver 127.0.0.1\n");
  // mount -n: libmount would otherwise create /run/mount on the host
  const script =
    'mount -n --bind "$0" /etc/hosts && mount -n --bind "$1" /etc/resolv.conf && shift && exec "$@"';
  return {
    command: "unshare",
    args: ["-m", "--propagation", "private", "sh", "-c", script, hosts, resolv, command, ...args],
  };
}
