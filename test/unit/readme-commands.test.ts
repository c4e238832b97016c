// The README opens with the two commands a new user types; CI must prove the second one as it is
// written there, not a variant of its own.
import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";

/** The checkout: this file is dist/test/unit/readme-commands.test.js. */
const CHECKOUT = new URL("../../../", import.meta.url);
const read = (file: string) => fs.readFileSync(new URL(file, CHECKOUT), "utf8");

/** The commands of the README's first code block, without their comments. */
function readmeCommands(): string[] {
  const block = /```sh\n([\s\S]*?)```/.exec(read("README.md"))?.[1] ?? "";
  return block
    .split("\n")
    .map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter((line) => line !== "");
}

test("the README's first two lines run wharf and the tests, and neither starts with sudo", () => {
  const commands = readmeCommands();
  assert.equal(commands.length, 2, commands.join("\n"));
  for (const command of commands) assert.doesNotMatch(command, /(^|&&\s*)sudo\b/, command);
});

test(".ci/run runs exactly the README's test command", () => {
  const testCommand = readmeCommands()[1];
  const steps = read(".ci/run")
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))
    .filter((line) => !/^(set|cd) /.test(line));
  assert.deepEqual(steps, [testCommand]);
});
