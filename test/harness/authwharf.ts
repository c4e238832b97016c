import crypto from "node:crypto";
import path from "node:path";
import YAML from "yaml";
import { getImage } from "./images.js";
import { pushImage } from "./push.js";
import { Secrets } from "./secrets.js";
import type { Credentials } from "./types.js";
import { startUpstream, type Upstream } from "./upstream.js";
import { startWharf, type Wharf } from "./wharf.js";
import { addUser } from "./wharfusers.js";

// The wharf the authentication tests share: two proxies of real docker-registry upstreams that
// want credentials (`hub`, public; `vendor`, for the devs group only), two hosted repositories
// (`internal`, `secret`), the group `all` over the four (pushes go to internal, and it is the
// default repository), an `auth:` section with the rules below, and users made with the CLI.

/** The rules every auth test reads its expectations from. */
export const FIXTURE_RULES = [
  { repositories: ["hub"], anonymous: ["pull"] },
  { repositories: ["vendor"], groups: { devs: ["pull"] } },
  { repositories: ["internal"], authenticated: ["pull"] },
  { repositories: ["internal"], names: ["team/**"], groups: { devs: ["push", "delete"] } },
  { repositories: ["internal"], names: ["alice/**"], users: { alice: ["push"] } },
  { repositories: ["secret"], users: { carol: ["pull", "push"] } },
];

export type FixtureUser = "admin" | "alice" | "bob" | "carol";

/** The service name (JWT audience) of the fixture. */
export const SERVICE = "wharf-test";

export interface AuthConfigOptions {
  hubUrl: string;
  vendorUrl: string;
  hubCreds: Credentials;
  vendorCreds: Credentials;
  /** Replaces FIXTURE_RULES; "defaults" writes no rules at all (wharf's defaults apply). */
  rules?: object[] | "defaults";
  /** Merged into the auth section (htpasswd, token_ttl…). */
  auth?: Record<string, unknown>;
  /** More repositories, given the upstreams' URLs (e.g. a proxy with wrong credentials). */
  extraRepositories?: (upstreams: { hubUrl: string; vendorUrl: string }) => Record<string, object>;
}

/** A proxy repository's configuration, logging in to its upstream with `creds`. */
export function proxyConfig(url: string, creds: Credentials): object {
  return { type: "proxy", upstream: { url, username: creds.username, password: creds.password } };
}

/** The fixture's configuration as YAML. */
export function authConfigYaml(opts: AuthConfigOptions): string {
  return YAML.stringify({
    default_repository: "all",
    auth: {
      service: SERVICE,
      token_ttl: "60s",
      ...(opts.rules === "defaults" ? {} : { rules: opts.rules ?? FIXTURE_RULES }),
      ...opts.auth,
    },
    repositories: {
      hub: proxyConfig(opts.hubUrl, opts.hubCreds),
      vendor: proxyConfig(opts.vendorUrl, opts.vendorCreds),
      internal: { type: "hosted" },
      secret: { type: "hosted" },
      all: { type: "group", members: ["internal", "secret", "hub", "vendor"], push_to: "internal" },
      ...opts.extraRepositories?.(opts),
    },
  });
}

/** A password nobody else uses, so finding it in a log can only mean it leaked. */
export function uniquePassword(label: string): string {
  return `${label}-pw-${crypto.randomBytes(9).toString("base64url")}`;
}

export interface AuthFixture {
  readonly wharf: Wharf;
  readonly hub: Upstream;
  readonly vendor: Upstream;
  readonly users: Readonly<Record<FixtureUser, Credentials>>;
  /** Every secret the fixture used; tests add theirs, the last test looks for all in the logs. */
  readonly secrets: Secrets;
  /** wharf's stdout (the JSON log) and stderr. */
  logFiles(): string[];
  close(): Promise<void>;
}

/**
 * Starts the upstreams (hub: `lib/app:v1` = the "small" image; vendor: `vendor/tool:1` = the
 * "docker" image), wharf with WHARF_ADMIN_PASSWORD, the users alice, bob (group devs) and carol,
 * and pushes "small" as admin to `internal/team/app:v1`.
 */
export async function startAuthFixture(
  opts: Pick<AuthConfigOptions, "rules" | "auth" | "extraRepositories"> = {},
): Promise<AuthFixture> {
  const secrets = new Secrets();
  const hubCreds = { username: "hub-robot", password: uniquePassword("hub-upstream") };
  const vendorCreds = { username: "vendor-robot", password: uniquePassword("vendor-upstream") };
  const [hub, vendor] = await Promise.all([
    startUpstream({ auth: "basic", creds: hubCreds }),
    startUpstream({ auth: "basic", creds: vendorCreds }),
  ]);
  const users: Record<FixtureUser, Credentials> = {
    admin: { username: "admin", password: uniquePassword("admin") },
    alice: { username: "alice", password: uniquePassword("alice") },
    bob: { username: "bob", password: uniquePassword("bob") },
    carol: { username: "carol", password: uniquePassword("carol") },
  };
  for (const creds of [hubCreds, vendorCreds, ...Object.values(users)]) secrets.addCredentials(creds);
  const configYaml = authConfigYaml({
    hubUrl: hub.url,
    vendorUrl: vendor.url,
    hubCreds,
    vendorCreds,
    ...opts,
  });
  const wharf = await startWharf({ configYaml, env: { WHARF_ADMIN_PASSWORD: users.admin.password } });
  await Promise.all([
    addUser(wharf, "alice", users.alice.password),
    addUser(wharf, "bob", users.bob.password, { groups: ["devs"] }),
    addUser(wharf, "carol", users.carol.password),
    pushImage(getImage("small"), hub, "lib/app:v1"),
    pushImage(getImage("docker"), vendor, "vendor/tool:1"),
  ]);
  await pushImage(getImage("small"), { host: wharf.host, creds: users.admin }, "internal/team/app:v1");
  return {
    wharf,
    hub,
    vendor,
    users,
    secrets,
    logFiles: () => [path.join(wharf.dir, "wharf.stdout"), path.join(wharf.dir, "wharf.stderr")],
    async close() {
      await wharf.close();
      await Promise.all([hub.close(), vendor.close()]);
    },
  };
}
