import { Command } from "commander";
import { ConfigError } from "../config/load.js";
import { VERSION } from "../version.js";
import { registerClientConfig } from "./client-config.js";
import { registerConfigCheck } from "./config-check.js";
import { registerGc } from "./gc.js";
import { registerMigrate } from "./migrate.js";
import { registerPrefetch } from "./prefetch.js";
import { registerPrune } from "./prune.js";
import { registerServe } from "./serve.js";
import { registerStatus } from "./status.js";
import { registerTokens, registerUsers } from "./users.js";
import { registerVerify } from "./verify.js";

const program = new Command()
  .name("wharf")
  .description(
    "A container registry: pull-through cache of Docker Hub and others, hosted and group repositories",
  )
  .version(VERSION);
registerServe(program);
registerStatus(program);
registerConfigCheck(program);
registerClientConfig(program);
registerGc(program);
registerPrune(program);
registerVerify(program);
registerMigrate(program);
registerPrefetch(program);
registerUsers(program);
registerTokens(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`wharf: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
