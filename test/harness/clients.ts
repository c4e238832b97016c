// One import for the tests: every real client the harness drives.
export {
  type Containerd,
  type CtrPullOptions,
  type CtrPullResult,
  ctrPull,
  dockerHubMirrorHosts,
  type RegistryHost,
  type RegistryHosts,
  startContainerd,
} from "./clients/containerd.js";
export {
  type Dockerd,
  type DockerdOptions,
  type DockerImage,
  dockerdPull,
  findDocker,
  startDockerd,
} from "./clients/dockerd.js";
export {
  type PodmanPullOptions,
  type PodmanPullResult,
  type PodmanPushResult,
  podmanPull,
  podmanPush,
} from "./clients/podman.js";
export {
  runSkopeoCopy,
  type SkopeoCopyOptions,
  type SkopeoCopyResult,
  type SkopeoRunResult,
  skopeoCopy,
} from "./clients/skopeo.js";
export { dockerHubMirror, type MirrorRule, registriesConf } from "./containers.js";
export { readDirLayout } from "./dirlayout.js";
