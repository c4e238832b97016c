import { type Daemon, spawnDaemon, waitHttp } from "../system/proc.js";

/** A docker-registry process for a config file, started and stopped on demand (same port, same data). */
export interface RegistryDaemon {
  start(): Promise<void>;
  stop(): Promise<void>;
  running(): boolean;
  /** The process id while it runs. */
  pid(): number | undefined;
}

export function registryDaemon(configPath: string, logDir: string, url: string): RegistryDaemon {
  let daemon: Daemon | undefined;
  return {
    async start() {
      if (daemon?.running()) return;
      daemon = spawnDaemon({
        name: "registry",
        command: "docker-registry",
        args: ["serve", configPath],
        logDir,
        // docker-registry reads every REGISTRY_* variable as a config override: pass none
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      });
      await waitHttp(`${url}/v2/`, 15_000, daemon);
    },
    async stop() {
      await daemon?.stop();
    },
    running: () => daemon?.running() ?? false,
    pid: () => (daemon?.running() ? daemon.pid : undefined),
  };
}
