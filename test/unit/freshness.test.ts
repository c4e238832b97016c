// Invariant 4 as a table: every decision of a proxy's tag freshness rule (src/repos/freshness.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { decideTag, type TagDecision, type TagQuestion, type TagState } from "../../src/repos/freshness.js";

const TTL = 60_000;
const VALIDATED = Date.parse("2024-06-01T00:00:00Z");
const OLD = `sha256:${"a".repeat(64)}`;
const NEW = `sha256:${"b".repeat(64)}`;

const UNKNOWN: TagState = { known: false };
const STORED: TagState = { known: true, digest: OLD, validatedAt: VALIDATED, stored: true };
const UNSTORED: TagState = { known: true, digest: OLD, validatedAt: VALIDATED, stored: false };

/** Within the TTL, at its very last millisecond, and at the moment it runs out. */
const FRESH = VALIDATED + TTL - 1;
const EXPIRED = VALIDATED + TTL;

const ask = (tag: TagState, now: number, method: "GET" | "HEAD", extra: Partial<TagQuestion> = {}) => ({
  tag,
  now,
  ttlMs: TTL,
  method,
  ...extra,
});

const cases: ReadonlyArray<readonly [string, TagQuestion, TagDecision]> = [
  // Never seen: the upstream is asked, however fresh the clock says anything is.
  ["an unknown tag, GET", ask(UNKNOWN, FRESH, "GET"), { action: "fetch" }],
  ["an unknown tag, HEAD", ask(UNKNOWN, FRESH, "HEAD"), { action: "fetch" }],
  // Known, before asking the upstream.
  [
    "within the TTL with the manifest stored, GET",
    ask(STORED, FRESH, "GET"),
    { action: "serve", digest: OLD, cache: "hit" },
  ],
  [
    "within the TTL with the manifest stored, HEAD",
    ask(STORED, FRESH, "HEAD"),
    { action: "serve", digest: OLD, cache: "hit" },
  ],
  [
    "within the TTL, learnt from a HEAD, GET: fetched by its digest without revalidating",
    ask(UNSTORED, FRESH, "GET"),
    { action: "serve", digest: OLD, cache: "hit" },
  ],
  [
    "within the TTL, learnt from a HEAD, HEAD: revalidated (only the upstream could answer it)",
    ask(UNSTORED, FRESH, "HEAD"),
    { action: "revalidate" },
  ],
  ["the TTL just ran out, GET", ask(STORED, EXPIRED, "GET"), { action: "revalidate" }],
  ["the TTL just ran out, HEAD", ask(STORED, EXPIRED, "HEAD"), { action: "revalidate" }],
  ["the TTL ran out, nothing stored", ask(UNSTORED, EXPIRED, "GET"), { action: "revalidate" }],
  ["TTL 0 revalidates at once", ask(STORED, VALIDATED, "GET", { ttlMs: 0 }), { action: "revalidate" }],
  [
    "a clock behind the validation still counts as fresh",
    ask(STORED, VALIDATED - 5_000, "GET"),
    { action: "serve", digest: OLD, cache: "hit" },
  ],
  // Known, with the upstream's answer to the HEAD.
  [
    "the upstream confirms the digest",
    ask(STORED, EXPIRED, "GET", { answer: { kind: "found", digest: OLD } }),
    { action: "serve", digest: OLD, cache: "revalidated", record: "validated" },
  ],
  [
    "the upstream confirms a tag whose manifest is not stored",
    ask(UNSTORED, EXPIRED, "HEAD", { answer: { kind: "found", digest: OLD } }),
    { action: "serve", digest: OLD, cache: "revalidated", record: "validated" },
  ],
  [
    "the tag moved",
    ask(STORED, EXPIRED, "GET", { answer: { kind: "found", digest: NEW } }),
    { action: "serve", digest: NEW, cache: "hit", record: "moved" },
  ],
  [
    "the tag was deleted upstream: forgotten, even with a copy stored",
    ask(STORED, EXPIRED, "GET", { answer: { kind: "not-found" } }),
    { action: "forget" },
  ],
  [
    "the upstream failed in a way that allows stale content, a copy is stored",
    ask(STORED, EXPIRED, "GET", { answer: { kind: "failed", allowsStale: true } }),
    { action: "serve-stale", digest: OLD },
  ],
  [
    "the upstream failed in a way that allows stale content, nothing stored",
    ask(UNSTORED, EXPIRED, "GET", { answer: { kind: "failed", allowsStale: true } }),
    { action: "fail" },
  ],
  [
    "the upstream failed in a way that allows no stale content (an unusable answer)",
    ask(STORED, EXPIRED, "GET", { answer: { kind: "failed", allowsStale: false } }),
    { action: "fail" },
  ],
  [
    "an answer decides even within the TTL (a HEAD of a tag learnt from a HEAD)",
    ask(UNSTORED, FRESH, "HEAD", { answer: { kind: "failed", allowsStale: true } }),
    { action: "fail" },
  ],
  [
    "an answer about an unknown tag changes nothing: it is fetched",
    ask(UNKNOWN, EXPIRED, "GET", { answer: { kind: "found", digest: NEW } }),
    { action: "fetch" },
  ],
];

for (const [why, question, expected] of cases) {
  test(`freshness: ${why}`, () => assert.deepEqual(decideTag(question), expected));
}
