// Access rules: glob patterns, grants that add up across rules and audiences, admins, the
// narrowing an API token's scopes apply, and the defaults a site gets without writing rules.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AccessRules,
  type Action,
  ANONYMOUS,
  defaultRules,
  type Principal,
  type Rule,
  type Scope,
} from "../../src/auth/rules.js";
import { matchesGlob } from "../../src/util/glob.js";

/** A rule with nothing granted, to be filled in per test. */
function rule(fields: Partial<Rule>): Rule {
  return {
    repositories: ["*"],
    names: ["**"],
    anonymous: [],
    authenticated: [],
    users: {},
    groups: {},
    ...fields,
  };
}

function user(name: string, fields: Partial<Principal> = {}): Principal {
  return { name, admin: false, groups: [], ...fields };
}

/** The granted actions, sorted, so a test states them as a plain list. */
function actions(rules: AccessRules, who: Principal, repository: string, name: string): Action[] {
  return [...rules.actions(who, repository, name)].sort();
}

describe("globs: `*` stays within a path segment, `**` crosses segments", () => {
  const cases: Array<[glob: string, value: string, matches: boolean]> = [
    ["*", "docker-hub", true],
    ["*", "team/app", false],
    ["**", "team/app/sub", true],
    ["**", "", true],
    ["team/*", "team/app", true],
    ["team/*", "team/app/sub", false],
    ["team/**", "team/app/sub", true],
    ["team/**", "other/app", false],
    ["team/**", "teamx/app", false],
    ["*/app", "team/app", true],
    ["*/app", "a/b/app", false],
    ["**/app", "a/b/app", true],
    ["docker-*", "docker-hub", true],
    ["docker-*", "docker-hub/x", false],
    ["library/busybox", "library/busybox", true],
    ["library/busybox", "library/busybox2", false],
    // regular-expression characters in a name are literal
    ["a.b", "axb", false],
    ["a.b", "a.b", true],
    ["a+b", "a+b", true],
    ["app(1)", "app(1)", true],
    ["[ab]", "a", false],
  ];
  for (const [glob, value, matches] of cases) {
    test(`${JSON.stringify(glob)} ${matches ? "matches" : "does not match"} ${JSON.stringify(value)}`, () => {
      assert.equal(matchesGlob(glob, value), matches);
    });
  }
});

describe("AccessRules", () => {
  const rules = new AccessRules([
    rule({ repositories: ["hub"], anonymous: ["pull"] }),
    rule({ repositories: ["internal"], authenticated: ["pull"] }),
    rule({ repositories: ["internal"], names: ["team/**"], groups: { devs: ["push"] } }),
    rule({ repositories: ["internal"], names: ["team/*"], users: { bob: ["delete"] } }),
    rule({ repositories: ["internal", "secret"], names: ["ci/**"], users: { robot: ["pull", "push"] } }),
  ]);

  test("nothing is granted unless a rule says so", () => {
    assert.deepEqual(actions(rules, ANONYMOUS, "internal", "team/app"), []);
    assert.deepEqual(actions(rules, user("alice"), "secret", "app"), []);
    assert.deepEqual(actions(rules, user("alice"), "elsewhere", "app"), []);
    assert.deepEqual(actions(new AccessRules([]), user("alice", { groups: ["devs"] }), "hub", "x"), []);
  });

  test("anonymous grants apply to everyone; authenticated grants only to named users", () => {
    assert.deepEqual(actions(rules, ANONYMOUS, "hub", "library/busybox"), ["pull"]);
    assert.deepEqual(actions(rules, user("alice"), "hub", "library/busybox"), ["pull"]);
    assert.deepEqual(actions(rules, ANONYMOUS, "internal", "app"), []);
    assert.deepEqual(actions(rules, user("alice"), "internal", "app"), ["pull"]);
  });

  test("grants add up across rules, users and groups, each where its patterns match", () => {
    const bob = user("bob", { groups: ["devs"] });
    assert.deepEqual(actions(rules, bob, "internal", "team/app"), ["delete", "pull", "push"]);
    // `team/*` (bob's delete) stops at one segment, `team/**` (the group's push) does not
    assert.deepEqual(actions(rules, bob, "internal", "team/app/sub"), ["pull", "push"]);
    assert.deepEqual(actions(rules, bob, "internal", "other"), ["pull"]);
    assert.deepEqual(actions(rules, user("carol", { groups: ["devs"] }), "internal", "team/app"), [
      "pull",
      "push",
    ]);
    assert.deepEqual(actions(rules, user("robot"), "secret", "ci/build"), ["pull", "push"]);
    assert.deepEqual(actions(rules, user("robot"), "secret", "app"), []);
  });

  test("user and group names are exact: no prefix or case folding", () => {
    assert.deepEqual(actions(rules, user("Bob", { groups: ["Devs"] }), "internal", "team/app"), ["pull"]);
    assert.deepEqual(actions(rules, user("bobby", { groups: ["devs2"] }), "internal", "team/app"), ["pull"]);
  });

  test("an admin may do everything everywhere, even without any rule", () => {
    const admin = user("admin", { admin: true });
    assert.deepEqual(actions(new AccessRules([]), admin, "anything", "any/name"), [
      "admin",
      "delete",
      "pull",
      "push",
    ]);
    assert.ok(rules.allows(admin, "secret", "x", "delete"));
  });

  test("a rule's `admin` grant administers that repository: pull, push and delete there, nowhere else", () => {
    // `admin` is one of the four actions a rule may grant (issue 4, point 2); nothing else reads it
    const repoAdmin = new AccessRules([rule({ repositories: ["internal"], users: { carol: ["admin"] } })]);
    const carol = user("carol");
    for (const action of ["pull", "push", "delete"] as const)
      assert.ok(repoAdmin.allows(carol, "internal", "team/app", action), action);
    assert.deepEqual(actions(repoAdmin, carol, "secret", "app"), []);
  });

  describe("an API token's scopes narrow what its user may do, never widen it", () => {
    const scope = (repositories: string[], names: string[], scoped: Action[]): Scope => ({
      repositories,
      names,
      actions: scoped,
    });
    const bob = user("bob", { groups: ["devs"] });

    test("the intersection of the user's rights and the scope", () => {
      const token = { ...bob, scopes: [scope(["internal"], ["team/**"], ["pull", "push", "delete"])] };
      assert.deepEqual(actions(rules, token, "internal", "team/app/sub"), ["pull", "push"]);
      assert.deepEqual(actions(rules, token, "internal", "other"), []);
      assert.deepEqual(actions(rules, token, "hub", "library/busybox"), []);
    });

    test("actions outside the scope are dropped even where the user has them", () => {
      const token = { ...bob, scopes: [scope(["internal"], ["**"], ["pull"])] };
      assert.deepEqual(actions(rules, token, "internal", "team/app"), ["pull"]);
    });

    test("a scope names its repository and image pattern together", () => {
      const token = {
        ...bob,
        scopes: [scope(["internal"], ["team/a/**"], ["push"]), scope(["hub"], ["**"], ["pull"])],
      };
      assert.deepEqual(actions(rules, token, "internal", "team/a/x"), ["push"]);
      assert.deepEqual(actions(rules, token, "internal", "team/b/x"), []);
      assert.deepEqual(actions(rules, token, "hub", "library/busybox"), ["pull"]);
    });

    test("no scopes at all grants nothing; an admin's token is narrowed too", () => {
      assert.deepEqual(actions(rules, { ...bob, scopes: [] }, "internal", "team/app"), []);
      const admin = user("admin", { admin: true, scopes: [scope(["hub"], ["**"], ["pull"])] });
      assert.deepEqual(actions(rules, admin, "hub", "x"), ["pull"]);
      assert.deepEqual(actions(rules, admin, "secret", "x"), []);
    });
  });
});

describe("defaultRules: safe and convenient without any configuration", () => {
  const rules = new AccessRules(defaultRules(["docker-hub", "ghcr"]));
  const alice = user("alice");

  test("anyone may pull from proxy repositories, nothing else", () => {
    assert.deepEqual(actions(rules, ANONYMOUS, "docker-hub", "library/busybox"), ["pull"]);
    assert.deepEqual(actions(rules, ANONYMOUS, "ghcr", "org/tool"), ["pull"]);
    assert.deepEqual(actions(rules, ANONYMOUS, "docker-internal", "team/app"), []);
  });

  test("a user may pull everything and push, but not delete or administer", () => {
    assert.deepEqual(actions(rules, alice, "docker-internal", "team/app/sub"), ["pull", "push"]);
    assert.ok(rules.allows(alice, "docker-hub", "library/busybox", "pull"));
  });

  test("deletes are for admins", () => {
    assert.ok(!rules.allows(alice, "docker-internal", "team/app", "delete"));
    assert.ok(rules.allows(user("root", { admin: true }), "docker-internal", "team/app", "delete"));
  });

  test("without proxies there is no anonymous rule at all", () => {
    const hostedOnly = defaultRules([]);
    assert.equal(hostedOnly.length, 1);
    assert.deepEqual(hostedOnly[0]?.anonymous, []);
    assert.deepEqual(actions(new AccessRules(hostedOnly), ANONYMOUS, "anything", "x"), []);
  });
});

describe("reach: what the rules grant in a repository for some name and for every name", () => {
  const rules = new AccessRules([
    rule({ repositories: ["hub"], anonymous: ["pull"] }),
    rule({ repositories: ["internal"], names: ["team/**"], groups: { devs: ["pull", "push"] } }),
    rule({ repositories: ["internal"], authenticated: ["pull"], names: ["public/*"] }),
    rule({ repositories: ["internal"], users: { carol: ["pull"] } }),
  ]);
  const reach = (who: Principal, repository: string) => {
    const { some, all } = rules.reach(who, repository);
    return { some: [...some].sort(), all: [...all].sort() };
  };

  test("a grant on `**` names reaches every name; a narrower pattern only some", () => {
    assert.deepEqual(reach(ANONYMOUS, "hub"), { some: ["pull"], all: ["pull"] });
    assert.deepEqual(reach(user("bob", { groups: ["devs"] }), "internal"), {
      some: ["pull", "push"],
      all: [],
    });
    assert.deepEqual(reach(user("carol"), "internal"), { some: ["pull"], all: ["pull"] });
    assert.deepEqual(reach(ANONYMOUS, "internal"), { some: [], all: [] });
    assert.deepEqual(reach(user("alice"), "secret"), { some: [], all: [] });
  });

  test("admins reach everything; an API token's scopes narrow its user's reach", () => {
    assert.deepEqual(reach(user("root", { admin: true }), "anything"), {
      some: ["admin", "delete", "pull", "push"],
      all: ["admin", "delete", "pull", "push"],
    });
    const token = user("carol", {
      scopes: [{ repositories: ["internal"], names: ["ci/**"], actions: ["pull"] }],
    });
    assert.deepEqual(reach(token, "internal"), { some: ["pull"], all: [] });
  });
});
