/** Docker Hub answers to several host names; clients send `ns=docker.io`. */
export const DOCKER_HUB_HOSTS: readonly string[] = [
  "docker.io",
  "registry-1.docker.io",
  "index.docker.io",
  "registry.docker.io",
];
