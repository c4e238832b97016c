import type { Command } from "commander";
import type { Config } from "../config/schema.js";
import { createLogger } from "../logger.js";
import { type Damaged, type VerifyProblem, verifyStore } from "../ops/verify.js";
import { formatBytes } from "../util/format-bytes.js";
import { type CommonOptions, configFrom, withConfigOptions } from "./options.js";
import { openForCommand } from "./stores.js";

interface VerifyCommandOptions extends CommonOptions {
  repair?: boolean;
}

function holdersText(problem: VerifyProblem): string {
  if (problem.holders.length === 0) return "nothing points at it";
  return `held by ${problem.holders.map((h) => `${h.repo}/${h.name} (${h.as})`).join(", ")}`;
}

export function problemLine(problem: VerifyProblem): string {
  const what =
    problem.kind === "corrupt"
      ? `corrupt ${problem.digest} (${problem.actual ? `its bytes are ${problem.actual}` : "not a digest"})`
      : `missing ${problem.digest}`;
  const repaired = problem.repaired;
  const done = repaired
    ? `: ${repaired.quarantinedTo ? `moved to ${repaired.quarantinedTo}, ` : ""}${repaired.links} links and ${repaired.manifests} manifests removed`
    : "";
  return `${what}, ${holdersText(problem)}${done}`;
}

function damagedLine(damaged: Damaged, config: Readonly<Config>): string {
  const kind = config.repositories[damaged.repo]?.type;
  const advice =
    kind === "proxy"
      ? "the next pull fetches it again"
      : kind === "hosted"
        ? "push the image again"
        : "its repository must fetch or get it again";
  return `${damaged.repo}/${damaged.name}@${damaged.manifest} lost ${damaged.lost.join(", ")}: ${advice}`;
}

export function registerVerify(program: Command): void {
  withConfigOptions(
    program
      .command("verify")
      .description(
        "re-hash every stored blob and check metadata against the files; exit 0 when all is well, 1 when problems were found, 2 when it could not run",
      )
      .option(
        "--repair",
        "move corrupt files to data/quarantine and remove the metadata pointing at corrupt or missing content, so the next pull fetches it again",
      ),
  ).action(async (options: VerifyCommandOptions) => {
    const config = await configFrom(options);
    const logger = createLogger({ level: config.log.level });
    let opened: Awaited<ReturnType<typeof openForCommand>>;
    try {
      opened = await openForCommand(config, logger);
    } catch (error) {
      process.stderr.write(
        `wharf verify: cannot open ${config.data_dir}: ${error instanceof Error ? error.message : error}\n`,
      );
      process.exitCode = 2;
      return;
    }
    const { stores } = opened;
    try {
      const report = await verifyStore(stores.meta, stores.blobs, {
        repair: options.repair === true,
        onProblem: (problem) => process.stdout.write(`${problemLine(problem)}\n`),
      });
      for (const damaged of report.damaged) process.stdout.write(`${damagedLine(damaged, config)}\n`);
      const found = report.problems.length;
      const state =
        found === 0
          ? "all well"
          : `${found} problem${found === 1 ? "" : "s"}${options.repair ? ", repaired" : " (--repair mends them)"}`;
      process.stdout.write(`checked ${report.files} files (${formatBytes(report.bytes)}): ${state}\n`);
      process.exitCode = found === 0 ? 0 : 1;
    } catch (error) {
      process.stderr.write(`wharf verify: ${error instanceof Error ? error.message : error}\n`);
      process.exitCode = 2;
    } finally {
      await stores.close();
    }
  });
}
