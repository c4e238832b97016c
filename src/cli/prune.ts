import { resolve } from "node:path";
import type { Command } from "commander";
import { createLogger } from "../logger.js";
import { evictionScopeOf, executeEviction, readEvictionInput } from "../ops/eviction.js";
import type { Eviction } from "../ops/eviction-plan.js";
import { planEviction } from "../ops/eviction-plan.js";
import { freeBytes } from "../store/disk-space.js";
import { formatBytes } from "../util/format-bytes.js";
import { type CommonOptions, configFrom, withConfigOptions } from "./options.js";
import { openForCommand } from "./stores.js";

interface PruneCommandOptions extends CommonOptions {
  dryRun?: boolean;
}

/** One eviction as a line: what, how recently used, how big, what it frees, why. */
export function evictionLine(eviction: Eviction, verb: string): string {
  const { image } = eviction;
  const what =
    image.kind === "blob"
      ? `${image.repo}/${image.name} blob ${image.digest}`
      : `${image.repo}/${image.name}${image.tags.length > 0 ? `:${image.tags.join(",")}` : ""} (${image.digest})`;
  const used = `${image.pulled ? "last pulled" : "cached, never pulled, at"} ${new Date(image.lastUsed).toISOString()}`;
  return `${verb} ${what}, ${used}, ${formatBytes(image.size)}, frees ${formatBytes(eviction.bytes)} (${eviction.reason})`;
}

export function registerPrune(program: Command): void {
  withConfigOptions(
    program
      .command("prune")
      .description(
        "evict cached images as the server does by itself: what max_unused, the caps and the free-space floor call for, least recently pulled first",
      )
      .option(
        "--dry-run",
        "list what would be evicted, with sizes and last use, and what that frees; change nothing",
      ),
  ).action(async (options: PruneCommandOptions) => {
    const config = await configFrom(options);
    const logger = createLogger({ level: config.log.level });
    const dataDir = resolve(config.data_dir);
    const { stores, server } = await openForCommand(config, logger);
    try {
      if (server !== undefined && !options.dryRun) {
        throw new Error(
          `a wharf server (pid ${server}) works on ${dataDir} and evicts by itself; a prune beside it could delete what its downloads are storing: stop it first, or use --dry-run`,
        );
      }
      const scope = evictionScopeOf(config);
      const free = await freeBytes(dataDir).catch(() => undefined);
      const plan = planEviction(
        await readEvictionInput(stores.meta, scope, {
          now: Date.now(),
          ...(free === undefined ? {} : { freeBytes: free }),
        }),
      );
      const verb = options.dryRun ? "would evict" : "evicted";
      let freed = plan.bytes;
      if (options.dryRun) {
        for (const eviction of plan.evictions) process.stdout.write(`${evictionLine(eviction, verb)}\n`);
      } else {
        const carried = await executeEviction(plan.evictions, stores, (done) =>
          process.stdout.write(`${evictionLine({ ...done.eviction, bytes: done.bytes }, verb)}\n`),
        );
        freed = carried.reduce((sum, done) => sum + done.bytes, 0);
      }
      const cap = scope.policy.maxSize === undefined ? "" : ` of ${formatBytes(scope.policy.maxSize)}`;
      process.stdout.write(
        `${verb} ${plan.evictions.length} images, freeing ${formatBytes(freed)}: the store ${options.dryRun ? "would go" : "went"} from ${formatBytes(plan.before.total)} to ${formatBytes(plan.before.total - freed)}${cap}\n`,
      );
      for (const bound of plan.unmet)
        process.stdout.write(`cannot keep ${bound}: what is left is pinned or hosted\n`);
    } finally {
      await stores.close();
    }
  });
}
