// Issue 3, case 7: the configuration as a user meets it. `wharf config check` names every mistake
// of a file with its dotted path and line and fails; the shipped examples pass it; and the
// snippets `wharf client-config` prints work when pasted: podman and containerd pull through
// them from two local registries (and from wharf itself), dockerd's daemon.json points at wharf.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import { ctrPull, podmanPull } from "../harness/clients/index.js";
import { pushImage } from "../harness/images/push.js";
import { getImage } from "../harness/images/test-images.js";
import { makeTempDir } from "../harness/system/tmp.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { clientConfigFiles, runWharfCli } from "../harness/wharf/cli.js";
import { EXAMPLES_DIR } from "../harness/wharf/examples.js";
import { requestsTo } from "../harness/wharf/log.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

/** A file with nine mistakes; MISTAKES says where each is: its dotted path and the line that is wrong. */
const BROKEN = `listen: "127.0.0.1:99999"
repositories:
  hub:
    type: proxy
    upstream:
      url: ftp://registry.example
    tag_ttl: forever
  internal:
    type: hosted
    alow_delete: false
  all:
    type: group
    members: [internal, nowhere]
    push_to: hub
  Bad_Name:
    type: hosted
default_repository: missing
uploads:
  max_size: lots
`;
const MISTAKES: Array<[string, number]> = [
  ["listen", 1],
  ["repositories.hub.upstream.url", 6],
  ["repositories.hub.tag_ttl", 7],
  ["repositories.internal.alow_delete", 10],
  ["repositories.all.members.1", 13],
  ["repositories.all.push_to", 14],
  ["repositories.Bad_Name", 15],
  ["default_repository", 17],
  ["uploads.max_size", 19],
];

describe("config check, the examples, and client-config snippets that work", () => {
  const dir = makeTempDir("config");
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };

  test("config check names every mistake with its dotted path and line, and exits non-zero", async () => {
    const r = await runWharfCli(["config", "check", file("broken.yaml", BROKEN)]);
    assert.equal(r.code, 2, `the exit status of a configuration that does not check out: ${r.stderr}`);
    const lines = r.stderr.split("\n").map((l) => l.trim());
    const unexplained = MISTAKES.map(([where, line]) => `${where} (line ${line}):`).filter(
      (expected) => !lines.some((l) => l.startsWith(expected)),
    );
    assert.deepEqual(unexplained, [], r.stderr);
  });

  test("an unset environment variable is reported together with the file's other mistakes", async () => {
    const text = [
      "repositories:",
      "  hub:",
      "    type: proxy",
      "    upstream:",
      "      url: https://registry.example",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: wharf's own ${VAR} syntax, in the file
      "      username: ${WHARF_TEST_NEVER_SET_USER}",
      "      password: secret",
      "    tag_ttl: forever",
      "",
    ].join("\n");
    const r = await runWharfCli(["config", "check", file("unset.yaml", text)]);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.split("\n").map((l) => l.trim());
    assert.ok(
      lines.some(
        (l) =>
          l.startsWith("repositories.hub.upstream.username (line 6):") &&
          l.includes("WHARF_TEST_NEVER_SET_USER"),
      ),
      r.stderr,
    );
    assert.ok(
      lines.some((l) => l.startsWith("repositories.hub.tag_ttl (line 8):")),
      `the bad tag_ttl is reported in the same run:\n${r.stderr}`,
    );
  });

  test("examples/nexus-seed.yaml and examples/multi-upstream.yaml pass config check", async () => {
    const seed = await runWharfCli(["config", "check", path.join(EXAMPLES_DIR, "nexus-seed.yaml")]);
    assert.equal(seed.code, 0, seed.stderr);
    for (const repo of ["docker-hub (proxy)", "docker-internal (hosted)", "docker-all (group)"])
      assert.ok(seed.stdout.includes(repo), `${repo} in: ${seed.stdout}`);
    const multi = await runWharfCli(["config", "check", path.join(EXAMPLES_DIR, "multi-upstream.yaml")]);
    assert.equal(multi.code, 0, multi.stderr);
  });

  test("examples/cluster.yaml takes the site's and the node's settings from the environment", async () => {
    const file = path.join(EXAMPLES_DIR, "cluster.yaml");
    const bare = await runWharfCli(["config", "check", file]);
    assert.equal(bare.code, 2);
    for (const name of [
      "WHARF_LISTEN",
      "S3_ENDPOINT",
      "S3_BUCKET",
      "S3_ACCESS_KEY",
      "S3_SECRET_KEY",
      "DATABASE_URL",
    ])
      assert.match(bare.stderr, new RegExp(`environment variable ${name} is not set`));
    const set = await runWharfCli(["config", "check", file], {
      env: {
        WHARF_LISTEN: "10.0.0.11:5000",
        S3_ENDPOINT: "http://rgw.internal:7480",
        S3_BUCKET: "wharf",
        S3_ACCESS_KEY: "a",
        S3_SECRET_KEY: "b",
        DATABASE_URL: "postgres://wharf@db.internal/wharf",
      },
    });
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /docker-hub \(proxy\), docker-internal \(hosted\), docker-all \(group\)/);
  });

  describe("client-config for a wharf with two local upstreams, a Docker Hub proxy and a group", () => {
    let basicUp: Upstream;
    let anonUp: Upstream;
    let wharf: Wharf;
    let files: Map<string, string>;
    const docker = getImage("docker");
    const small = getImage("small");
    const smallV2 = getImage("small-v2");

    before(async () => {
      [basicUp, anonUp] = await Promise.all([
        startUpstream({ auth: "basic" }),
        startUpstream({ auth: "none" }),
      ]);
      await pushImage(docker, basicUp, "team/app:1");
      await pushImage(smallV2, anonUp, "team/app:1");
      const config = {
        repositories: {
          // never contacted: it makes client-config print the docker.io and daemon.json parts
          "docker-hub": { type: "proxy", upstream: { url: "https://registry-1.docker.io" } },
          "basic-reg": {
            type: "proxy",
            upstream: {
              url: basicUp.url,
              username: basicUp.creds.username,
              password: basicUp.creds.password,
            },
          },
          "anon-reg": { type: "proxy", upstream: { url: anonUp.url } },
          internal: { type: "hosted" },
          everything: { type: "group", members: ["internal", "docker-hub"] },
        },
        default_repository: "everything",
      };
      wharf = await startWharf({ configYaml: YAML.stringify(config) });
      await pushImage(small, { host: wharf.host }, "internal/team/mine:1");
      const r = await runWharfCli([
        "client-config",
        "--config",
        wharf.configPath ?? "",
        "--host",
        wharf.host,
      ]);
      assert.equal(r.code, 0, r.stderr);
      files = clientConfigFiles(r.stdout);
    });
    after(async () => {
      await wharf?.close();
      await Promise.all([basicUp?.close(), anonUp?.close()]);
    });

    const printed = (where: string) => {
      const text = files.get(where);
      assert.ok(
        text !== undefined,
        `client-config printed no ${where}; it printed ${[...files.keys()].join(", ")}`,
      );
      return text;
    };

    test("daemon.json makes wharf dockerd's (insecure) registry mirror", () => {
      const daemon = JSON.parse(printed("/etc/docker/daemon.json")) as Record<string, string[]>;
      assert.deepEqual(daemon["registry-mirrors"], [`http://${wharf.host}`]);
      assert.deepEqual(daemon["insecure-registries"], [wharf.host]);
      assert.match(
        printed("/etc/containerd/certs.d/docker.io/hosts.toml"),
        /server = "https:\/\/registry-1\.docker\.io"/,
      );
    });

    test("podman with the printed registries.conf pulls each upstream through wharf, and from wharf itself", async () => {
      const conf = printed("/etc/containers/registries.conf.d/wharf.conf");
      const b = await podmanPull(`${basicUp.host}/team/app:1`, { registriesConf: conf });
      assert.equal(b.digest, docker.digest);
      const c = await podmanPull(`${anonUp.host}/team/app:1`, { registriesConf: conf });
      assert.equal(c.digest, smallV2.digest);
      assert.ok(
        requestsTo(wharf, "anon-reg").some((r) => r.status === 200),
        "the anonymous upstream via wharf",
      );
      // no --tls-verify: the printed file itself says wharf speaks plain HTTP
      const own = await podmanPull(`${wharf.host}/everything/team/mine:1`, { registriesConf: conf });
      assert.equal(own.digest, small.digest);
    });

    test("ctr with the printed hosts.toml files pulls each upstream through wharf by ?ns=", async () => {
      const hostsFiles = Object.fromEntries(
        [basicUp.host, anonUp.host].map((registry) => [
          registry,
          printed(`/etc/containerd/certs.d/${registry}/hosts.toml`),
        ]),
      );
      const b = await ctrPull(`${basicUp.host}/team/app:1`, { hostsFiles });
      assert.equal(b.digest, docker.digest);
      const c = await ctrPull(`${anonUp.host}/team/app:1`, { hostsFiles });
      assert.equal(c.digest, smallV2.digest);
      // the printed server line is the upstream itself: wharf's log shows the pulls did not fall back to it
      for (const [repo, up] of [
        ["basic-reg", basicUp],
        ["anon-reg", anonUp],
      ] as const)
        assert.ok(
          requestsTo(wharf, repo).some((r) => r.ns === up.host && r.status === 200),
          `${repo}: a ?ns=${up.host} request answered by wharf`,
        );
    });
  });
});
