// The layers of docs/ARCHITECTURE.md: a module may import only from its own layer or those below.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

/** This file runs as dist/test/unit/layers.test.js; the sources are beside dist. */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../../src");

/**
 * What each part of src/ may import. The bottom knows nothing of the rest; http/ and the entry
 * points see everything. Files directly in src/ are placed by name.
 */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  util: [],
  version: [],
  logger: [],
  oci: ["util"],
  config: ["util", "oci"],
  meta: ["util", "oci"],
  // Above meta: the shared implementations run on the metadata database's pool and migrations.
  coordination: ["util", "oci", "meta"],
  store: ["util", "oci", "meta", "coordination"],
  upstream: ["util", "oci", "coordination"],
  auth: ["util", "oci", "config", "meta", "coordination"],
  repos: ["util", "oci", "config", "meta", "coordination", "store", "upstream", "version", "logger"],
  ops: ["util", "oci", "config", "meta", "coordination", "store", "upstream", "auth", "repos", "version"],
  http: [
    "util",
    "oci",
    "config",
    "meta",
    "coordination",
    "store",
    "upstream",
    "auth",
    "repos",
    "ops",
    "version",
  ],
  app: ["*"],
  cli: ["*"],
};

function layerOf(file: string): string {
  const [top] = relative(SRC, file).split(sep);
  return (top ?? "").replace(/\.ts$/, "");
}

function* sources(directory: string): Generator<string> {
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found: string[] = [];
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+"([^"]+)"/g))
    found.push(match[1] as string);
  for (const match of text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) found.push(match[1] as string);
  return found.filter((specifier) => specifier.startsWith("."));
}

test("no module imports from a layer above its own", () => {
  const violations: string[] = [];
  let checked = 0;
  for (const file of sources(SRC)) {
    const from = layerOf(file);
    const allowed = ALLOWED[from];
    assert.ok(allowed, `${relative(SRC, file)} is in no known layer: add "${from}" to the table`);
    for (const specifier of importsOf(file)) {
      const target = layerOf(resolve(dirname(file), specifier.replace(/\.js$/, ".ts")));
      checked++;
      if (target === from || allowed.includes("*") || allowed.includes(target)) continue;
      violations.push(`${relative(SRC, file)} imports ${specifier} (${from} → ${target})`);
    }
  }
  assert.ok(checked > 100, `only ${checked} imports found: is the scanner still reading the sources?`);
  assert.deepEqual(violations, []);
});
