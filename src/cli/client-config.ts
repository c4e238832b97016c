import { hostname } from "node:os";
import type { Command } from "commander";
import { clientSnippets } from "../config/client-snippets.js";
import { type CommonOptions, configFrom, withConfigOptions } from "./options.js";

interface ClientConfigOptions extends CommonOptions {
  host?: string;
}

/** `listen: :5000` says nothing about how clients reach this machine: use its host name then. */
function clientAddress(listen: string, host: string | undefined): string {
  if (host) return host.includes(":") ? host : `${host}:${listen.slice(listen.lastIndexOf(":") + 1)}`;
  const port = listen.slice(listen.lastIndexOf(":") + 1);
  const bound = listen.includes(":") ? listen.slice(0, listen.lastIndexOf(":")) : "";
  const reachable = bound === "" || bound === "0.0.0.0" || bound === "[::]" ? hostname() : bound;
  return `${reachable}:${port}`;
}

export function registerClientConfig(program: Command): void {
  withConfigOptions(
    program
      .command("client-config")
      .description("print dockerd, podman/CRI-O and containerd settings that use this wharf as a mirror")
      .option(
        "--host <host[:port]>",
        "how clients reach wharf (default: this machine's name and the listen port)",
      ),
  ).action(async (options: ClientConfigOptions) => {
    const config = await configFrom(options);
    process.stdout.write(
      clientSnippets(config, { address: clientAddress(config.listen, options.host), insecure: true }),
    );
  });
}
