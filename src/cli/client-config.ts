import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import type { Command } from "commander";
import { clientSnippets } from "../config/client-snippets.js";
import { certificateNames, summarize } from "../util/tls-key-pair.js";
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

/** Snippets naming a host the certificate does not cover would only teach clients to fail. */
async function warnUnlessCovered(certFile: string, address: string): Promise<void> {
  const host = address.slice(0, address.lastIndexOf(":"));
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(await readFile(certFile));
  } catch (error) {
    process.stderr.write(
      `wharf: cannot read the certificate to check it names ${host}: ${(error as Error).message}\n`,
    );
    return;
  }
  if (certificateNames(certificate, host)) return;
  const names = summarize(certificate).names.join(", ") || "no names";
  process.stderr.write(
    `wharf: warning: the certificate in ${certFile} is not valid for ${host} (it has ${names}); ` +
      "clients reaching wharf by that name will refuse it\n",
  );
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
    const address = clientAddress(config.listen, options.host);
    if (config.tls !== undefined) await warnUnlessCovered(config.tls.cert, address);
    process.stdout.write(clientSnippets(config, { address, insecure: config.tls === undefined }));
  });
}
