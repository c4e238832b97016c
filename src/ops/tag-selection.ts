import { compare, satisfies, valid } from "semver";

/** Which tags of an image a sync keeps fresh (see `sync` in the configuration). */
export interface TagRule {
  readonly tags?: readonly string[];
  readonly regex?: string;
  readonly semver?: string;
  readonly newest?: number;
}

const VERSION = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?$/;

/**
 * The version a tag stands for, as image tags are written: `1.2` and `v1.2` are 1.2.0, `20` is
 * 20.0.0, `1.27.3-alpine` is 1.27.3-alpine (a prerelease to semver, so a variant stays out of a
 * plain range); undefined for tags that are not versions (`latest`, `stable`).
 */
export function versionOf(tag: string): string | undefined {
  const match = VERSION.exec(tag);
  if (!match) return undefined;
  const [, major, minor = "0", patch = "0", rest] = match;
  return valid(`${major}.${minor}.${patch}${rest === undefined ? "" : `-${rest}`}`) ?? undefined;
}

/** Whether the rule needs the upstream's tag list (anything but a plain list of tags). */
export function needsTagList(rule: TagRule): boolean {
  return rule.regex !== undefined || rule.semver !== undefined || rule.newest !== undefined;
}

/**
 * The tags to sync: the listed ones, then those of `available` that match the regex and the
 * semver range (each when given), cut to the newest N by version when `newest` is given (then only
 * tags that read as versions count). Each once, listed ones first. Pure.
 */
export function selectTags(rule: TagRule, available: readonly string[]): string[] {
  const chosen = new Set(rule.tags ?? []);
  if (needsTagList(rule)) {
    const pattern = rule.regex === undefined ? undefined : new RegExp(rule.regex);
    let matched = available
      .filter((tag) => pattern === undefined || pattern.test(tag))
      .map((tag) => ({ tag, version: versionOf(tag) }))
      .filter(
        ({ version }) =>
          rule.semver === undefined || (version !== undefined && satisfies(version, rule.semver)),
      );
    if (rule.newest !== undefined) {
      matched = matched
        .filter((entry): entry is { tag: string; version: string } => entry.version !== undefined)
        .sort((a, b) => compare(b.version, a.version) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0))
        .slice(0, rule.newest);
    }
    for (const { tag } of matched) chosen.add(tag);
  }
  return [...chosen];
}
