import { AssertionError } from "node:assert";
import { describe, test } from "node:test";
import type { ConformanceResponse } from "./client.js";
import type { Suite } from "./fixtures.js";

// Ginkgo and Gomega, as far as the suite uses them: specs run in declaration order, a failed
// Expect ends its spec and the next spec runs anyway (later specs may then see stale state, as in
// Ginkgo), g.Skip ends a spec as skipped, Warn prints and passes.

/** Thrown by the suite's Skip helpers; the spec is reported as skipped. */
class SpecSkip extends Error {}

export interface Tally {
  passed: number;
  failed: number;
  skipped: number;
  readonly failures: string[];
  readonly warnings: string[];
}

export function newTally(): Tally {
  return { passed: 0, failed: 0, skipped: 0, failures: [], warnings: [] };
}

/** A Ginkgo tree whose leaves count into `tally` under their full titles. */
export class SpecTree {
  readonly tally: Tally;
  readonly #path: readonly string[];

  constructor(tally: Tally, path: readonly string[] = []) {
    this.tally = tally;
    this.#path = path;
  }

  /** g.Context */
  context(title: string, body: (tree: SpecTree) => void): void {
    describe(title, () => body(new SpecTree(this.tally, [...this.#path, title])));
  }

  /** g.Specify */
  specify(title: string, body: () => Promise<void>): void {
    const fullTitle = [...this.#path, title].join(" / ");
    test(title, async (t) => {
      try {
        await body();
        this.tally.passed++;
      } catch (error) {
        if (error instanceof SpecSkip) {
          this.tally.skipped++;
          t.skip(error.message);
          return;
        }
        this.tally.failed++;
        this.tally.failures.push(`${fullTitle}: ${error instanceof Error ? error.message : String(error)}`);
        throw error;
      }
    });
  }

  /** setup.go's Warn: a message on stderr, the spec still passes. */
  warn(message: string): void {
    this.tally.warnings.push(message);
    process.stderr.write(`WARNING: ${message}\n`);
  }
}

/** setup.go's SkipIfDisabled. */
export function skipIfDisabled(suite: Suite, workflow: number): void {
  if (!suite.enabled(workflow)) {
    const settings = [
      "OCI_TEST_PULL",
      "OCI_TEST_PUSH",
      "OCI_TEST_CONTENT_DISCOVERY",
      "OCI_TEST_CONTENT_MANAGEMENT",
    ]
      .map((name) => `${name}=${suite.env[name] ?? ""}`)
      .join(" ");
    throw new SpecSkip(`you have skipped this test; check your environment variable settings: ${settings}`);
  }
}

/** setup.go's RunOnlyIf. */
export function runOnlyIf(condition: boolean): void {
  if (!condition) throw new SpecSkip("you have skipped this test.");
}

/** setup.go's RunOnlyIfNot. */
export function runOnlyIfNot(condition: boolean): void {
  if (condition) throw new SpecSkip("you have skipped this test.");
}

/** A status the suite accepts: an exact code, or Gomega's BeNumerically(">=",200)+("<",300). */
export type StatusMatcher = number | "2xx";

function matches(status: number, matcher: StatusMatcher): boolean {
  return matcher === "2xx" ? status >= 200 && status < 300 : status === matcher;
}

function fail(message: string, response?: ConformanceResponse): never {
  throw new AssertionError({ message: response ? `${message}\n    ${response.describe()}` : message });
}

/** Expect(resp.StatusCode()).To(Equal(x)) or To(SatisfyAny(...)), quoting the exchange on failure. */
export function expectStatus(response: ConformanceResponse, ...accepted: StatusMatcher[]): void {
  if (!accepted.some((matcher) => matches(response.status, matcher))) {
    fail(`status: expected ${accepted.join(" or ")}, got ${response.status}`, response);
  }
}

/** Expect(actual).To(Equal(expected)). */
export function expectEqual<T>(actual: T, expected: T, what: string, response?: ConformanceResponse): void {
  if (actual !== expected) {
    fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`, response);
  }
}

/** Expect(value).ToNot(BeEmpty()). */
export function expectNotEmpty(
  value: string | readonly unknown[],
  what: string,
  response?: ConformanceResponse,
): void {
  if (value.length === 0) fail(`${what}: expected not to be empty`, response);
}

/** Expect(cond).To(BeTrue()) for the suite's other matchers (HavePrefix, ContainElement, BeNumerically). */
export function expectThat(condition: boolean, what: string, response?: ConformanceResponse): void {
  if (!condition) fail(what, response);
}

/** Expect(err).To(BeNil()) around a step that may throw (a transport error, unparsable JSON). */
export async function noError<T>(what: string, step: () => Promise<T> | T): Promise<T> {
  try {
    return await step();
  } catch (error) {
    return fail(`${what}: expected no error, got ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** A value a spec dereferences; Go would panic on nil and fail the spec. */
export function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) fail(`${what} is nil`);
  return value;
}
