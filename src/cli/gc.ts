import type { Command } from "commander";
import { parseDuration } from "../config/duration.js";
import { createLogger } from "../logger.js";
import { collectGarbage } from "../ops/gc.js";
import { type CommonOptions, configFrom, withConfigOptions } from "./options.js";
import { openForCommand } from "./stores.js";

interface GcCommandOptions extends CommonOptions {
  dryRun?: boolean;
  untagged?: boolean;
  grace: string;
}

export function registerGc(program: Command): void {
  withConfigOptions(
    program
      .command("gc")
      .description("remove blobs no manifest of any repository references any more")
      .option("--dry-run", "list what would be removed, remove nothing")
      .option("--untagged", "also remove manifests of hosted repositories that no tag reaches")
      .option("--grace <duration>", "never remove content younger than this (a push may be in flight)", "1h"),
  ).action(async (options: GcCommandOptions) => {
    const graceMs = parseDuration(options.grace);
    if (graceMs === undefined) throw new Error(`--grace ${options.grace} is not a duration`);
    const config = await configFrom(options);
    const logger = createLogger({ level: config.log.level });
    // Beside a running server the staging of its downloads stays: emptying it would break them.
    const { stores } = await openForCommand(config, logger);
    try {
      const untaggedIn = options.untagged
        ? Object.entries(config.repositories)
            .filter(([, repository]) => repository.type === "hosted")
            .map(([name]) => name)
        : [];
      const report = await collectGarbage(stores.meta, stores.blobs, {
        dryRun: options.dryRun === true,
        untaggedIn,
        graceMs,
        ingests: stores.ingests,
      });
      const verb = options.dryRun ? "would remove" : "removed";
      for (const m of report.manifests)
        process.stdout.write(`${verb} manifest ${m.repo}/${m.name}@${m.digest}\n`);
      for (const b of report.blobs) process.stdout.write(`${verb} blob ${b.digest} (${b.size} bytes)\n`);
      process.stdout.write(
        `${verb} ${report.manifests.length} manifests, ${report.links.length} blob links, ` +
          `${report.blobs.length} blobs (${report.bytes} bytes)\n`,
      );
      if (!options.dryRun) {
        const purged = await stores.uploads.purgeIdle(config.uploads.expire_after);
        if (purged > 0) process.stdout.write(`discarded ${purged} abandoned uploads\n`);
      }
    } finally {
      await stores.close();
    }
  });
}
