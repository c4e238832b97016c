import { parseListen } from "../app.js";
import { type CommonOptions, configFrom } from "./options.js";

export interface InstanceOptions extends CommonOptions {
  url?: string;
}

/**
 * The running wharf a command talks to: `--url`, else the configuration's listen address as seen
 * from this machine (`:5000` is http://127.0.0.1:5000; HTTPS when the configuration has `tls`).
 */
export async function instanceUrl(options: InstanceOptions): Promise<string> {
  if (options.url) return options.url.replace(/\/+$/, "");
  const config = await configFrom(options);
  const { host, port } = parseListen(config.listen);
  const local = host === undefined || host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `${config.tls ? "https" : "http"}://${local.includes(":") ? `[${local}]` : local}:${port}`;
}
