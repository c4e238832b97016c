// Issue 9, item 7: the files in deploy/ are checked with what this machine has. There is no Docker
// engine and hadolint is not in Debian, so the Dockerfile is parsed and held against the package
// and the build, and its start is played as the image would run it; the systemd unit is read, run
// through `systemd-analyze verify` and scored by `systemd-analyze security --offline`.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { configSchema } from "../../src/config/schema.js";
import { freePort } from "../harness/system/ports.js";
import { runCommand, spawnDaemon, waitHttp } from "../harness/system/proc.js";
import { makeTempDir, removeTempDir } from "../harness/system/tmp.js";
import { runWharfCli } from "../harness/wharf/cli.js";
import { inheritedEnv } from "../harness/wharf/start.js";

/** This file runs as dist/test/integration/deploy.test.js; the repository is three levels up. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const DEPLOY = path.join(ROOT, "deploy");
const PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  bin: { wharf: string };
  scripts: Record<string, string>;
};

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Dockerfile instructions by stage: continuation lines joined, comments and parser directives dropped. */
function dockerStages(text: string): Array<{ from: string; name?: string; instructions: Instruction[] }> {
  const stages: Array<{ from: string; name?: string; instructions: Instruction[] }> = [];
  const joined = text.replace(/\\\r?\n/g, " ");
  for (const raw of joined.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [keyword = "", ...rest] = line.split(/\s+/);
    const args = rest.join(" ");
    if (keyword.toUpperCase() === "FROM") {
      const [image = "", as, name] = args.split(/\s+/);
      stages.push({ from: image, ...(as?.toUpperCase() === "AS" && name ? { name } : {}), instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

function all(stage: { instructions: Instruction[] }, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

function last(stage: { instructions: Instruction[] }, keyword: string): string {
  const found = all(stage, keyword).at(-1);
  assert.ok(found !== undefined, `no ${keyword} in the stage`);
  return found;
}

function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  assert.ok(
    Array.isArray(parsed) && parsed.every((part) => typeof part === "string"),
    `${args} is not exec form`,
  );
  return parsed as string[];
}

/** The sections of a systemd unit; a key given twice keeps every value, as systemd adds them up. */
function unitSections(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1] as string, current);
      continue;
    }
    const at = line.indexOf("=");
    assert.ok(current && at > 0, `not a setting: ${line}`);
    const key = line.slice(0, at).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(at + 1).trim()]);
  }
  return sections;
}

describe("deploy/Dockerfile", () => {
  const text = fs.readFileSync(path.join(DEPLOY, "Dockerfile"), "utf8");
  const stages = dockerStages(text);
  const build = stages.find((stage) => stage.name === "build");
  const run = stages.at(-1);

  test("two stages: a named build stage, and a run stage that takes only what the build made", () => {
    assert.equal(stages.length, 2);
    assert.ok(build && run && run !== build);
    for (const copy of all(run, "COPY")) assert.match(copy, /^--from=build /, `the run stage copies ${copy}`);
  });

  test("the build stage runs the package's own scripts and ends with production dependencies only", () => {
    const runs = all(build!, "RUN").join(" && ");
    const steps = ["npm ci", "npm run build", "npm prune --omit=dev"].map((step) => runs.indexOf(step));
    assert.ok(steps.every((at) => at >= 0) && steps[0]! < steps[1]! && steps[1]! < steps[2]!, runs);
    assert.match(
      PACKAGE.scripts.build ?? "",
      /^tsc -p tsconfig\.json && tsc -p ui\/tsconfig\.json && vite build -c ui\/vite\.config\.ts\b/,
      "npm run build is the TypeScript build, then the dashboard's type check and bundle",
    );
    assert.match(
      PACKAGE.scripts.install ?? "",
      /node-gyp rebuild/,
      "npm ci builds the addon: the toolchain is installed",
    );
    assert.match(runs, /apt-get install .*python3 .*make .*g\+\+/);
    // What the build reads is in the repository and not excluded by the build's ignore file.
    const ignored = fs.readFileSync(path.join(DEPLOY, "Dockerfile.dockerignore"), "utf8");
    for (const copy of all(build!, "COPY")) {
      for (const source of copy.split(/\s+/).slice(0, -1)) {
        assert.ok(fs.existsSync(path.join(ROOT, source)), `${source} exists`);
        assert.match(
          ignored,
          new RegExp(`^!${source.replace(/\./g, "\\.")}(/\\*\\*)?$`, "m"),
          `${source} is sent`,
        );
      }
    }
  });

  test("the run stage: an unprivileged user, the data volume as working directory, port 5000", () => {
    const user = last(run!, "USER");
    assert.doesNotMatch(user, /^(root|0)(:|$)/);
    assert.match(all(run!, "RUN").join(" "), new RegExp(`useradd .*${user}`), "the user is created");
    const volume = execForm(last(run!, "VOLUME"));
    assert.deepEqual(volume, ["/var/lib/wharf"]);
    // Without a configuration wharf keeps its data in ./data: inside the volume.
    assert.equal(last(run!, "WORKDIR"), "/var/lib/wharf");
    assert.equal(last(run!, "EXPOSE"), "5000");
    assert.equal(configSchema.parse({}).listen, ":5000");
    assert.equal(last(run!, "STOPSIGNAL"), "SIGTERM");
    assert.ok(
      !all(run!, "ENV").some((env) => /REGISTRY_|WHARF_CONFIG/.test(env)),
      "no setting the user's would lose to",
    );
  });

  test("entrypoint and health check run the package's wharf binary: serve, and status (readiness)", () => {
    const binary = `/app/${PACKAGE.bin.wharf}`;
    const entry = execForm(last(run!, "ENTRYPOINT"));
    assert.deepEqual(entry, ["node", binary]);
    assert.deepEqual(execForm(last(run!, "CMD")), ["serve"]);
    const health = last(run!, "HEALTHCHECK");
    const command = /^(.*?)\s*CMD\s+(\[.*\])$/.exec(health);
    assert.ok(command, health);
    assert.match(command[1] ?? "", /--interval=\S+ .*--timeout=\S+/);
    assert.deepEqual(execForm(command[2] ?? ""), ["node", binary, "status"]);
    // The copies put the package where the entrypoint looks: /app/dist/src from tsc's outDir, and
    // the dashboard beside it, where wharf looks for it (dist/ui).
    assert.ok(all(run!, "COPY").includes("--from=build /src/dist/src ./dist/src"));
    assert.ok(all(run!, "COPY").includes("--from=build /src/dist/ui ./dist/ui"));
    assert.ok(all(run!, "WORKDIR").includes("/app"), "the package is in /app");
  });

  test("the image's start, played here: registry:2 variables configure it and its health check passes", async (t) => {
    const volume = makeTempDir("image-volume");
    t.after(() => removeTempDir(volume));
    const port = await freePort();
    const env = {
      ...inheritedEnv(),
      NODE_ENV: "production",
      REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
      // Nothing listens there: the start must not need the upstream.
      REGISTRY_PROXY_REMOTEURL: "http://127.0.0.1:9",
      WHARF_AUTH: "off",
    };
    const binary = path.join(ROOT, PACKAGE.bin.wharf);
    const daemon = spawnDaemon({
      name: "image",
      command: process.execPath,
      args: [binary, "serve"],
      logDir: volume,
      env,
      cwd: volume,
    });
    t.after(() => daemon.stop());
    await waitHttp(`http://127.0.0.1:${port}/v2/`, 30_000, daemon);
    assert.ok(fs.existsSync(path.join(volume, "data", "wharf.db")), "the data is in the volume");
    const health = await runWharfCli(["status"], { env });
    assert.equal(health.code, 0, health.stdout + health.stderr);
    assert.match(health.stdout, /: ready, up /);
  });
});

describe("deploy/wharf.service", () => {
  const file = path.join(DEPLOY, "wharf.service");
  const unit = unitSections(fs.readFileSync(file, "utf8"));
  const service = unit.get("Service") ?? new Map<string, string[]>();
  const value = (key: string) => service.get(key)?.join(" ");

  test("its own user, its state directory and the hardening asked for", () => {
    assert.equal(value("DynamicUser"), "yes");
    assert.equal(value("StateDirectory"), "wharf");
    for (const key of ["NoNewPrivileges", "ProtectHome", "PrivateTmp"]) assert.equal(value(key), "yes", key);
    assert.equal(value("ProtectSystem"), "strict");
    assert.deepEqual(value("RestrictAddressFamilies")?.split(" ").sort(), ["AF_INET", "AF_INET6", "AF_UNIX"]);
    assert.equal(service.get("SystemCallFilter")?.[0], "@system-service");
    assert.equal(value("CapabilityBoundingSet"), "");
    assert.equal(value("Restart"), "on-failure");
    assert.equal(value("KillSignal"), "SIGTERM");
  });

  test("it runs the package's binary on the state directory, and waits longer than the grace period", () => {
    const exec = value("ExecStart")?.split(" ") ?? [];
    assert.equal(exec[0], "/usr/bin/node");
    assert.equal(exec[1], `/opt/wharf/${PACKAGE.bin.wharf}`);
    assert.equal(exec[2], "serve");
    assert.equal(exec[exec.indexOf("--data") + 1], "%S/wharf", "the data directory is StateDirectory");
    const stop = /^(\d+)s$/.exec(value("TimeoutStopSec") ?? "");
    assert.ok(stop, "TimeoutStopSec in seconds");
    // wharf takes shutdown_grace, then up to 5 s to cut off what is left and close its databases.
    assert.ok(Number(stop[1]) * 1000 > configSchema.parse({}).shutdown_grace + 5000);
  });

  test("systemd-analyze verify finds nothing to say", async (t) => {
    const dir = makeTempDir("unit");
    t.after(() => removeTempDir(dir));
    let text = fs.readFileSync(file, "utf8");
    // verify checks that the binary exists; where node lives elsewhere, the rest is checked with this one.
    if (!fs.existsSync("/usr/bin/node")) text = text.replace("/usr/bin/node", process.execPath);
    fs.writeFileSync(path.join(dir, "wharf.service"), text);
    const { stdout, stderr } = await runCommand("systemd-analyze", [
      "verify",
      path.join(dir, "wharf.service"),
    ]);
    assert.equal(`${stdout}${stderr}`.trim(), "");
  });

  test("systemd-analyze security rates its exposure OK", async () => {
    const { stdout } = await runCommand("systemd-analyze", ["security", "--offline=yes", "--no-pager", file]);
    const score = /Overall exposure level for wharf\.service: ([\d.]+) (\S+)/.exec(stdout);
    assert.ok(score, stdout.slice(-500));
    assert.ok(Number(score[1]) <= 2, `exposure ${score[1]} ${score[2]}`);
    assert.equal(score[2], "OK");
  });
});
