// One import for the tests: every real client the harness drives.

export { readDirLayout } from "../images/dir-layout.js";
export {
  type Containerd,
  type CtrPullOptions,
  type CtrPullResult,
  ctrPull,
  dockerHubMirrorHosts,
  type RegistryHost,
  type RegistryHosts,
  startContainerd,
} from "./containerd.js";
export { dockerHubMirror, type MirrorRule, registriesConf } from "./containers-conf.js";
export {
  type Dockerd,
  type DockerdOptions,
  type DockerImage,
  dockerdPull,
  findDocker,
  startDockerd,
} from "./dockerd.js";
export {
  type PodmanPullOptions,
  type PodmanPullResult,
  type PodmanPushResult,
  podmanPull,
  podmanPush,
} from "./podman.js";
export {
  runSkopeoCopy,
  type SkopeoCopyOptions,
  type SkopeoCopyResult,
  type SkopeoRunResult,
  skopeoCopy,
} from "./skopeo.js";
