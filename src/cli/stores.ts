import { resolve } from "node:path";
import type { Logger } from "pino";
import { storeSettings } from "../app.js";
import type { Config } from "../config/schema.js";
import { runningServer } from "../store/data-dir-owner.js";
import { type OpenedStores, openStores } from "../store/open-stores.js";

/**
 * The data directory for a command that runs beside the server or instead of it: `server` is the
 * pid of a server working on it, if one is, and then the staging its downloads use is left alone.
 */
export async function openForCommand(
  config: Readonly<Config>,
  logger: Logger,
): Promise<{ stores: OpenedStores; server: number | undefined }> {
  const dataDir = resolve(config.data_dir);
  const server = await runningServer(dataDir);
  const stores = await openStores(storeSettings(config), logger, { sweep: server === undefined });
  return { stores, server };
}
