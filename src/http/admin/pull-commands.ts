import type { PullCommandBody } from "./schemas.js";

/** Where a client reaches an image through wharf, as the browser reached wharf. */
export interface PullTarget {
  /** The `Host` the browser used: `wharf.example:5000`. */
  readonly host: string;
  /** Whether the browser came over TLS (wharf then speaks it on every listener). */
  readonly tls: boolean;
  /** The repository's own listener port, when it has one: clients then name the image without the repository. */
  readonly port: number | null;
  readonly repository: string;
  /** The registry a proxy stands for, as clients name it (`docker.io`): its mirror form. */
  readonly registry: string | null;
  readonly name: string;
  /** A tag or a digest. */
  readonly reference: string;
  /** Anonymous clients may not pull it: the commands say to log in first. */
  readonly needsLogin: boolean;
  /** The user the dashboard shows it to, for the commands that take one. */
  readonly user: string | null;
}

function hostnameOf(host: string): string {
  // `[::1]:5000` → `[::1]`; `example:5000` → `example`
  const bracket = host.startsWith("[") ? host.indexOf("]") : -1;
  if (bracket > 0) return host.slice(0, bracket + 1);
  const colon = host.lastIndexOf(":");
  return colon < 0 ? host : host.slice(0, colon);
}

function suffix(reference: string): string {
  return reference.includes(":") ? `@${reference}` : `:${reference}`;
}

/** `host:port/repository/name:tag`, or `host:bound-port/name:tag` for a repository with its own port. */
export function imageAddress(target: PullTarget): { registry: string; reference: string } {
  const registry = target.port === null ? target.host : `${hostnameOf(target.host)}:${target.port}`;
  const path = target.port === null ? `${target.repository}/${target.name}` : target.name;
  return { registry, reference: `${registry}/${path}${suffix(target.reference)}` };
}

/**
 * Copy-ready pulls through wharf for docker, podman, nerdctl, ctr and skopeo: the address the
 * browser used with the repository's port or path prefix, as `wharf client-config` routes
 * clients; over plain HTTP each client's flag (or setting) for an insecure registry; for a proxy,
 * the mirror form containerd uses (`?ns=`) as a note.
 */
export function pullCommands(target: PullTarget): PullCommandBody[] {
  const { registry, reference } = imageAddress(target);
  const insecure = !target.tls;
  const login = target.needsLogin
    ? `Log in first: docker login ${registry} (podman login, nerdctl login alike).`
    : null;
  const local = target.name.slice(target.name.lastIndexOf("/") + 1);
  const mirrored =
    target.registry === null ? null : `${target.registry}/${target.name}${suffix(target.reference)}`;
  const join = (...notes: Array<string | null>) => {
    const given = notes.filter((note): note is string => note !== null);
    return given.length === 0 ? null : given.join(" ");
  };
  return [
    {
      client: "docker",
      command: `docker pull ${reference}`,
      note: join(
        insecure ? `dockerd needs "insecure-registries": ["${registry}"] in /etc/docker/daemon.json.` : null,
        login,
      ),
    },
    {
      client: "podman",
      command: `podman pull ${insecure ? "--tls-verify=false " : ""}${reference}`,
      note: login,
    },
    {
      client: "nerdctl",
      command: `nerdctl pull ${insecure ? "--insecure-registry " : ""}${reference}`,
      note: join(
        login,
        mirrored === null
          ? null
          : `With wharf as containerd's mirror of ${target.registry} (wharf client-config): nerdctl pull ${mirrored}`,
      ),
    },
    {
      client: "ctr",
      command: `ctr images pull ${insecure ? "--plain-http " : ""}${target.needsLogin && target.user ? `--user ${target.user} ` : ""}${reference}`,
      note:
        mirrored === null
          ? null
          : `With wharf as containerd's mirror of ${target.registry} (wharf client-config): ctr images pull --hosts-dir /etc/containerd/certs.d ${mirrored}`,
    },
    {
      client: "skopeo",
      command: `skopeo copy ${insecure ? "--src-tls-verify=false " : ""}${target.needsLogin && target.user ? `--src-creds ${target.user} ` : ""}docker://${reference} oci:${local}${target.reference.includes(":") ? "" : `:${target.reference}`}`,
      note: null,
    },
  ];
}
