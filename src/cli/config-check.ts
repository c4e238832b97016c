import type { Command } from "commander";
import { storeSettings } from "../app.js";
import { loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { probePostgres } from "../meta/postgres-pool.js";
import { S3Objects } from "../store/s3-objects.js";
import { readKeyPair } from "../util/tls-key-pair.js";

export function registerConfigCheck(program: Command): void {
  program
    .command("config")
    .description("work with configuration files")
    .command("check")
    .argument("<file>", "YAML configuration file")
    .option("--connect", "also reach the object store and the database the file names")
    .description("validate a configuration file and explain each mistake with its place in the file")
    .action(async (file: string, options: { connect?: boolean }) => {
      const config = await loadConfig({ file, checkFiles: true });
      const names = Object.entries(config.repositories).map(([name, repo]) => `${name} (${repo.type})`);
      process.stdout.write(`${file}: valid; repositories: ${names.join(", ")}\n`);
      if (config.tls !== undefined) {
        const { summary } = await readKeyPair(config.tls);
        const holder = summary.names.length > 0 ? summary.names.join(", ") : summary.subject;
        process.stdout.write(`HTTPS with a certificate for ${holder}, valid until ${summary.notAfter}\n`);
      }
      for (const line of await storageLines(config, options.connect === true))
        process.stdout.write(`${line}\n`);
    });
}

/** Where blobs and metadata go, and with --connect whether each answers (throwing when one does not). */
async function storageLines(config: Config, connect: boolean): Promise<string[]> {
  const settings = storeSettings(config);
  const lines: string[] = [];
  if (settings.s3) {
    const { endpoint, bucket, prefix } = settings.s3;
    const where = `bucket ${bucket}${prefix ? ` (prefix ${prefix})` : ""} at ${endpoint}`;
    if (connect) {
      const objects = new S3Objects(settings.s3);
      try {
        await objects.check();
      } catch (error) {
        throw new Error(`blobs: cannot reach ${where}: ${describe(error)}`);
      } finally {
        objects.close();
      }
    }
    lines.push(`blobs: S3 ${where}${connect ? ": reachable" : ""}`);
  } else {
    lines.push(`blobs: files in ${settings.dataDir}`);
  }
  if (settings.postgres) {
    const url = new URL(settings.postgres.url);
    const where = `${url.host}${url.pathname}`;
    let version = "";
    if (connect) {
      try {
        version = `: reachable, PostgreSQL ${await probePostgres(settings.postgres.url)}`;
      } catch (error) {
        throw new Error(`metadata: cannot reach PostgreSQL at ${where}: ${describe(error)}`);
      }
    }
    lines.push(`metadata, users and tokens: PostgreSQL at ${where}${version}`);
  } else {
    lines.push(`metadata, users and tokens: SQLite in ${settings.dataDir}`);
  }
  return lines;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}
