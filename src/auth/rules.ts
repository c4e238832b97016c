import { matchesGlob } from "../util/glob.js";

export const ACTIONS = ["pull", "push", "delete", "admin"] as const;
export type Action = (typeof ACTIONS)[number];

/** Who is asking. Anonymous has no name; an API token narrows its user's rights to its scopes. */
export interface Principal {
  readonly name: string | undefined;
  readonly admin: boolean;
  readonly groups: readonly string[];
  /** Set for API tokens: the most the token may do, whatever its user could. */
  readonly scopes?: readonly Scope[];
  /** The API token this principal proved itself with: registry tokens issued for it name it, so a revocation reaches them. */
  readonly apiToken?: string;
}

export const ANONYMOUS: Principal = Object.freeze({ name: undefined, admin: false, groups: [] });

/** Where a grant applies: repository and image-name patterns (`*` within a path segment, `**` across). */
export interface Scope {
  readonly repositories: readonly string[];
  readonly names: readonly string[];
  readonly actions: readonly Action[];
}

export interface Rule extends Omit<Scope, "actions"> {
  readonly anonymous: readonly Action[];
  readonly authenticated: readonly Action[];
  readonly users: Readonly<Record<string, readonly Action[]>>;
  readonly groups: Readonly<Record<string, readonly Action[]>>;
}

/**
 * The access rules: each rule names repositories and image names, and grants actions to
 * anonymous clients, to any authenticated user, to named users and to groups. Grants add up;
 * nothing is granted unless a rule says so; admins may do everything.
 */
export class AccessRules {
  readonly rules: readonly Rule[];

  constructor(rules: readonly Rule[]) {
    this.rules = rules;
  }

  /** Everything `principal` may do with `name` in `repository`. */
  actions(principal: Principal, repository: string, name: string): Set<Action> {
    return this.#granted(principal, repository, (names) => names.some((glob) => matchesGlob(glob, name)));
  }

  /**
   * What `principal` may do in `repository` with some name (`some`) and with every name (`all`: a
   * grant whose names include `**`), so a listing can tell an empty view from a hidden repository
   * and show a repository's totals only to those who may see all of it.
   */
  reach(principal: Principal, repository: string): { some: Set<Action>; all: Set<Action> } {
    return {
      some: this.#granted(principal, repository, () => true),
      all: this.#granted(principal, repository, (names) => names.includes("**")),
    };
  }

  /** The actions of the rules (and an API token's scopes) for `repository` whose name patterns `names` accepts. */
  #granted(
    principal: Principal,
    repository: string,
    names: (patterns: readonly string[]) => boolean,
  ): Set<Action> {
    const applies = (scope: Omit<Scope, "actions">) =>
      scope.repositories.some((glob) => matchesGlob(glob, repository)) && names(scope.names);
    const granted = new Set<Action>();
    if (principal.admin) for (const action of ACTIONS) granted.add(action);
    for (const rule of this.rules) {
      if (!applies(rule)) continue;
      for (const action of rule.anonymous) granted.add(action);
      if (principal.name === undefined) continue;
      for (const action of rule.authenticated) granted.add(action);
      for (const action of rule.users[principal.name] ?? []) granted.add(action);
      for (const group of principal.groups)
        for (const action of rule.groups[group] ?? []) granted.add(action);
    }
    // A rule's `admin` grant makes its holder the administrator of that repository: everything else follows.
    if (granted.has("admin")) for (const action of ACTIONS) granted.add(action);
    if (principal.scopes) {
      const scopes = principal.scopes;
      for (const action of [...granted]) {
        if (!scopes.some((scope) => scope.actions.includes(action) && applies(scope))) granted.delete(action);
      }
    }
    return granted;
  }

  allows(principal: Principal, repository: string, name: string, action: Action): boolean {
    return this.actions(principal, repository, name).has(action);
  }
}

/**
 * What a site gets without writing rules: anyone may pull from proxy repositories (it is public
 * content), a user may pull anything and push to hosted repositories, deletes and administration
 * are for admins.
 */
export function defaultRules(proxies: readonly string[]): Rule[] {
  const none = { users: {}, groups: {} };
  return [
    ...(proxies.length > 0
      ? [
          {
            repositories: proxies,
            names: ["**"],
            anonymous: ["pull"] as Action[],
            authenticated: [],
            ...none,
          },
        ]
      : []),
    {
      repositories: ["*"],
      names: ["**"],
      anonymous: [],
      authenticated: ["pull", "push"] as Action[],
      ...none,
    },
  ];
}
