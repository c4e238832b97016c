import type { Action } from "../../auth/rules.js";
import { holdersOf, type Repository } from "../../repos/repository.js";
import type { AdminCaller } from "./caller.js";

/** What one caller may see and do of one repository. */
export interface RepositoryView {
  readonly repository: Repository;
  /** The repositories holding its content (itself, or a group's members), as far as the caller may pull from them. */
  readonly holders: readonly Repository[];
  /** The caller may pull some image here, or push here: the repository is listed. */
  readonly visible: boolean;
  /** The caller may pull every image of every holder: only then are its totals and traffic shown. */
  readonly seesAll: boolean;
  /** What the caller may do with some image here. */
  readonly actions: readonly Action[];
}

/**
 * One caller's view of a repository, from the access rules: the same rules `/v2/` applies, a
 * group read through the members the caller may read (nothing of a hidden member shows, not even
 * in a count), writes judged where the group sends them.
 */
export function viewOf(caller: AdminCaller, repository: Repository): RepositoryView {
  const all = holdersOf(repository);
  const holders = all.filter((holder) => caller.reach(holder.name).some.has("pull"));
  const writer = repository.writer;
  const writes = writer ? caller.reach(writer.name).some : new Set<Action>();
  const actions: Action[] = [
    ...(holders.length > 0 ? (["pull"] as const) : []),
    ...(writes.has("push") ? (["push"] as const) : []),
    ...(writes.has("delete") ? (["delete"] as const) : []),
    ...(caller.admin ? (["admin"] as const) : []),
  ];
  return {
    repository,
    holders,
    visible: holders.length > 0 || writes.has("push"),
    seesAll:
      holders.length === all.length && all.every((holder) => caller.reach(holder.name).all.has("pull")),
    actions,
  };
}
