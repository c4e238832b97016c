import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { storeSettings } from "../app.js";
import { openAuthStore } from "../auth/setup.js";
import { loadConfig } from "../config/load.js";
import { createLogger } from "../logger.js";
import { migrateStore } from "../ops/migrate.js";
import { openStores } from "../store/open-stores.js";
import { formatBytes } from "../util/format-bytes.js";
import { type CommonOptions, configFrom, withConfigOptions } from "./options.js";
import { openForCommand } from "./stores.js";

interface MigrateCommandOptions extends CommonOptions {
  to: string;
}

function fail(message: string): void {
  process.stderr.write(`wharf migrate: ${message}\n`);
  process.exitCode = 2;
}

export function registerMigrate(program: Command): void {
  withConfigOptions(
    program
      .command("migrate")
      .description(
        "copy this node's store (blob files and SQLite) into the object store and PostgreSQL of another configuration; resumable, and safe while this node serves; exit 0 when every blob and row is there",
      )
      .requiredOption("--to <file>", "the configuration of the cluster (with storage.s3 and database)"),
  ).action(async (options: MigrateCommandOptions) => {
    const source = await configFrom(options);
    const target = await loadConfig({ file: options.to });
    if (source.storage?.s3 || source.database) {
      return fail("the source keeps its store in S3 or PostgreSQL already: migrate moves a data directory");
    }
    if (!target.storage?.s3 || !target.database) {
      return fail(`${options.to} needs both storage.s3 and database: that is where the store goes`);
    }
    const logger = createLogger({ level: source.log.level });
    const from = await openForCommand(source, logger);
    try {
      // Only scratch of its own in the target's data directory: never the source's staging.
      const to = await openStores(storeSettings(target), logger, { sweep: false });
      try {
        const live = await to.coordination.nodes.live();
        if (live.length > 0) {
          return fail(
            `nodes are running on ${options.to} (${live.map((node) => node.url).join(", ")}): migrate before they start`,
          );
        }
        const dataDir = resolve(source.data_dir);
        const withAuth = existsSync(join(dataDir, "auth.db"));
        // Opening the cluster's auth store creates its tables, so the rows have somewhere to go.
        if (withAuth) await (await openAuthStore(target, resolve(target.data_dir))).close();
        const report = await migrateStore({
          from: { dataDir, blobs: from.stores.blobs },
          to: { blobs: to.blobs, databaseUrl: target.database.url },
          withAuth,
          onBlob: (digest, outcome) =>
            outcome === "corrupt" && process.stdout.write(`corrupt ${digest}: not copied\n`),
        });
        const { blobs } = report;
        process.stdout.write(
          `blobs: ${blobs.copied} copied (${formatBytes(blobs.bytes)}, each re-hashed), ${blobs.present} already there, ${blobs.corrupt.length} corrupt\n`,
        );
        for (const table of report.tables) {
          process.stdout.write(
            `${table.table}: ${table.source} rows here, ${table.target} there (${table.written} written, ${table.removed} removed)${table.source === table.target ? "" : " MISMATCH"}\n`,
          );
        }
        process.stdout.write(
          report.complete
            ? "complete: the cluster holds this node's store\n"
            : "incomplete: run it again (the node kept writing, or content is corrupt)\n",
        );
        process.exitCode = report.complete ? 0 : 1;
      } finally {
        await to.close();
      }
    } finally {
      await from.stores.close();
    }
  });
}
