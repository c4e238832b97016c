import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import vm from "node:vm";
import Database from "better-sqlite3";
import fc, { type IAsyncProperty, type IProperty } from "fast-check";
import { toOciError } from "../../src/http/error-mapping.js";
import { OciError, type OciErrorCode } from "../../src/oci/errors.js";

/**
 * Property runs use a fixed seed so a failure reproduces on every machine; WHARF_FC_SEED explores
 * other inputs locally without editing a test.
 */
const SEED = Number(process.env.WHARF_FC_SEED ?? 0x0c1d5eed);

export function checkProperty<Ts>(property: IProperty<Ts>, numRuns = 300): void {
  fc.assert(property, { seed: SEED, numRuns });
}

export async function checkAsyncProperty<Ts>(property: IAsyncProperty<Ts>, numRuns = 50): Promise<void> {
  await fc.assert(property, { seed: SEED, numRuns });
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Asserts that `action` throws what the client hears as `code` (and `status`, when given): an
 * OciError of the parsers, or a domain error as the HTTP edge maps it. Returns the mapped error.
 */
export function assertThrowsOci(action: () => unknown, code: OciErrorCode, status?: number): OciError {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected OciError ${code}, nothing was thrown`);
  const heard = toOciError(caught);
  assert.ok(heard instanceof OciError, `expected OciError ${code}, got ${describeError(caught)}`);
  assert.equal(heard.code, code, heard.message);
  if (status !== undefined) assert.equal(heard.status, status);
  return heard;
}

/**
 * Runs a parser that may refuse its input: returns its result, or the refusal (as the client hears
 * it) when its code is one the parser documents. Anything else thrown fails the calling test.
 */
export function resultOrOciError<T>(action: () => T, codes: readonly OciErrorCode[]): T | OciError {
  try {
    return action();
  } catch (error) {
    const heard = toOciError(error);
    if (heard && codes.includes(heard.code)) return heard;
    assert.fail(`expected a result or OciError ${codes.join("/")}, got ${describeError(error)}`);
  }
}

/**
 * Runs synchronous work under a watchdog that can interrupt it (a test timeout cannot interrupt
 * synchronous code). The inputs given to it take a linear parser well under a millisecond, so the
 * guard only fires on super-linear behaviour such as regex backtracking.
 */
export function withoutHanging<T>(work: () => T): T {
  return vm.runInNewContext("work()", { work }, { timeout: 1000 }) as T;
}

/** Header-sized garbage: Node accepts up to 16 KiB of headers, a proxy in front may accept more. */
export const LONG = 64 * 1024;

/** A fresh directory removed when the test ends. */
export async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `wharf-unit-${prefix}-`));
  // A download may still be moving its verified file into the store when the test ends: retry.
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 }));
  return dir;
}

/** The spec's repository-name grammar, written independently of src as the oracle for names. */
export const SPEC_NAME =
  /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
export const SPEC_TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

/**
 * Valid repository names, biased towards components that are also words of the URL grammar, so
 * route parsing meets `…/blobs/uploads/manifests/…` and friends.
 */
export const validName: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.constantFrom("blobs", "manifests", "uploads", "tags", "list", "referrers", "v2", "library"),
      fc.stringMatching(COMPONENT, { size: "small" }),
    ),
    { minLength: 1, maxLength: 5 },
  )
  .map((components) => components.join("/"))
  .filter((name) => name.length <= 255);

export const validTag: fc.Arbitrary<string> = fc.stringMatching(SPEC_TAG);

/** The schema version a SQLite store recorded in its file: what its migrations reached. */
export function sqliteUserVersion(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma("user_version", { simple: true }) as number;
  } finally {
    db.close();
  }
}
