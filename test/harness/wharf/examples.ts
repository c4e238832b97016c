import fs from "node:fs";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

/** The repository's examples/ directory (this file is dist/test/harness/wharf/examples.js). */
export const EXAMPLES_DIR = fileURLToPath(new URL("../../../../examples/", import.meta.url));

export type ConfigTree = Record<string, unknown> & { repositories: Record<string, Record<string, unknown>> };

/**
 * An example configuration parsed, for a test to re-point at local peers (upstream URL, connector
 * port) and hand to startWharf as YAML again: the example itself, not a copy of it, is what runs.
 */
export function exampleConfig(file: string): ConfigTree {
  const tree = YAML.parse(fs.readFileSync(`${EXAMPLES_DIR}${file}`, "utf8")) as ConfigTree;
  if (!tree || typeof tree.repositories !== "object") throw new Error(`${file} declares no repositories`);
  return tree;
}
