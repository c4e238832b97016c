// The OCI distribution-spec conformance suite (the Go suite of the v1.1.x line, ported to node:test
// in test/conformance/) against a real wharf whose hosted repository receives the pushes, reached
// three ways: as the default repository, through its path prefix, and through a group that
// pushes to it, and on S3 (Ceph RGW) and PostgreSQL instead of files and SQLite. Each run starts its
// own wharf, so one run's content never meets another's.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ConformanceClient } from "../conformance/client.js";
import { loadSuite, type SuiteEnv } from "../conformance/fixtures.js";
import {
  type LegacyRun,
  test01Pull,
  test02Push,
  test03ContentDiscovery,
  test04ContentManagement,
} from "../conformance/legacy.js";
import { redesignedContent } from "../conformance/redesign.js";
import { newTally, SpecTree, type Tally } from "../conformance/specs.js";
import { cephRgw, s3Prefix } from "../harness/backends/ceph-rgw.js";
import { type PostgresServer, startPostgres } from "../harness/backends/postgres.js";
import { type RoundRobin, startRoundRobin } from "../harness/http/round-robin.js";
import { startWharf, type Wharf } from "../harness/wharf/start.js";

interface Deployment {
  readonly label: string;
  readonly configYaml: string;
  /** The repository names the suite is given, as a user of this deployment would write them. */
  readonly namespace: string;
  readonly crossmountNamespace: string;
  /** Run with wharf's default authentication on, as the first admin (OCI_USERNAME/OCI_PASSWORD). */
  readonly asAdmin?: boolean;
  /** Blobs in a bucket of the run's Ceph RGW, metadata and users in a PostgreSQL of this file's. */
  readonly onS3AndPostgres?: boolean;
  /** Several nodes on those backends behind a balancer that sends each request to the next node. */
  readonly nodes?: number;
}

const ADMIN = { username: "admin", password: `conformance-${process.pid}-admin` };

const HOSTED_ONLY = `
repositories:
  internal: { type: hosted }
`;

const DEPLOYMENTS: readonly Deployment[] = [
  {
    label: "hosted repository as the default repository",
    configYaml: `${HOSTED_ONLY}default_repository: internal\n`,
    namespace: "myorg/myrepo",
    crossmountNamespace: "myorg/other",
  },
  {
    label: "hosted repository through its path prefix",
    configYaml: HOSTED_ONLY,
    namespace: "internal/myorg/myrepo",
    crossmountNamespace: "internal/myorg/other",
  },
  {
    label: "group pushing to the hosted repository, as the default repository",
    configYaml: `${HOSTED_ONLY}  all: { type: group, members: [internal], push_to: internal }\ndefault_repository: all\n`,
    namespace: "myorg/myrepo",
    crossmountNamespace: "myorg/other",
  },
  {
    label: "authentication on (the default), as the first admin with Basic credentials",
    configYaml: `${HOSTED_ONLY}default_repository: internal\n`,
    namespace: "myorg/myrepo",
    crossmountNamespace: "myorg/other",
    asAdmin: true,
  },
  {
    label: "on S3 (Ceph RGW) and PostgreSQL, authentication on, as the first admin",
    configYaml: `${HOSTED_ONLY}default_repository: internal\n`,
    namespace: "myorg/myrepo",
    crossmountNamespace: "myorg/other",
    asAdmin: true,
    onS3AndPostgres: true,
  },
  {
    label: "three nodes on S3 and PostgreSQL behind a round-robin balancer, as the first admin",
    configYaml: `${HOSTED_ONLY}default_repository: internal\n`,
    namespace: "myorg/myrepo",
    crossmountNamespace: "myorg/other",
    asAdmin: true,
    onS3AndPostgres: true,
    nodes: 3,
  },
];

let postgres: Promise<PostgresServer> | undefined;
after(async () => (await postgres)?.stop());

/** The `storage` and `database` sections of a deployment on the shared backends: an empty prefix and schema of its own. */
async function backendSections(label: string): Promise<string> {
  postgres ??= startPostgres();
  const s3 = cephRgw();
  const url = await (await postgres).schemaUrl(
    `conformance_${label.toLowerCase().replace(/\W+/g, "_").slice(0, 40)}`,
  );
  return `
storage:
  s3:
    endpoint: ${s3.endpoint}
    bucket: ${s3.bucket}
    access_key: ${s3.accessKey}
    secret_key: ${s3.secretKey}
    prefix: ${s3Prefix("conformance")}
database:
  url: "${url}"
`;
}

/**
 * What a user sets for a registry that supports everything but automatic cross-mounting: wharf
 * mounts a blob only when told where from (`from=`), so a mount without it must get the 202
 * fallback session, which the suite checks once told so (left unset, it skips both checks).
 */
function suiteEnv(deployment: Deployment): SuiteEnv {
  return {
    OCI_NAMESPACE: deployment.namespace,
    OCI_CROSSMOUNT_NAMESPACE: deployment.crossmountNamespace,
    OCI_AUTOMATIC_CROSSMOUNT: "0",
    OCI_TEST_PULL: "1",
    OCI_TEST_PUSH: "1",
    OCI_TEST_CONTENT_DISCOVERY: "1",
    OCI_TEST_CONTENT_MANAGEMENT: "1",
    OCI_HIDE_SKIPPED_WORKFLOWS: "0",
    OCI_DEBUG: "0",
  };
}

/** One line per run that no test runner mistakes for its own closing summary. */
function report(label: string, part: string, tally: Tally, seed: number): void {
  const lines = [
    `conformance [${label}] ${part}: pass=${tally.passed} fail=${tally.failed} skip=${tally.skipped} (seed ${seed})`,
    ...tally.failures.map((failure) => `  FAILED ${failure.replace(/\n/g, "\n    ")}`),
    ...tally.warnings.map((warning) => `  WARNING ${warning}`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

for (const deployment of DEPLOYMENTS) {
  describe(`OCI distribution-spec conformance: ${deployment.label}`, () => {
    const env = suiteEnv(deployment);
    const suite = loadSuite(env);
    const nodes: Wharf[] = [];
    let balancer: RoundRobin | undefined;
    let client: ConformanceClient | undefined;
    const run: LegacyRun = {
      suite,
      client: () => {
        if (!client) throw new Error("wharf is not running");
        return client;
      },
    };
    const legacy = newTally();
    const extra = newTally();

    before(async () => {
      const configYaml = deployment.onS3AndPostgres
        ? `${deployment.configYaml}${await backendSections(deployment.label)}`
        : deployment.configYaml;
      // One after another: the first creates the admin every later one finds in the database.
      for (let i = 0; i < (deployment.nodes ?? 1); i++) {
        nodes.push(
          await startWharf({
            configYaml,
            ...(deployment.asAdmin ? { secured: true, env: { WHARF_ADMIN_PASSWORD: ADMIN.password } } : {}),
          }),
        );
      }
      if (deployment.nodes) balancer = await startRoundRobin(nodes.map((node) => node.url));
      // OCI_ROOT_URL is known only now, with the port wharf got
      const root = balancer?.url ?? (nodes[0] as Wharf).url;
      client = new ConformanceClient(root, suite.namespace, deployment.asAdmin ? ADMIN : undefined);
    });
    after(async () => {
      report(deployment.label, "suite", legacy, suite.seed);
      report(deployment.label, "redesigned content kinds", extra, suite.seed);
      await balancer?.close();
      for (const node of nodes) await node.close();
    });

    // 00_conformance_suite_test.go: one Describe, the four workflows in this order
    describe("OCI Distribution Conformance Tests", () => {
      const tree = new SpecTree(legacy);
      test01Pull(tree, run);
      test02Push(tree, run);
      test03ContentDiscovery(tree, run);
      test04ContentManagement(tree, run);
    });

    describe("Beyond the v1.1.x suite: content kinds of the redesigned suite (spec main)", () => {
      redesignedContent(new SpecTree(extra), run);
    });

    // The suite's Warn passes its spec: a registry that lost a feature would still pass every one.
    test("the suite warned of nothing", () => {
      assert.deepEqual([...legacy.warnings, ...extra.warnings], []);
    });

    if (deployment.nodes) {
      test("every node answered its share of the suite's requests", () => {
        const counts = balancer?.counts() ?? [];
        assert.equal(counts.length, deployment.nodes);
        assert.ok(Math.min(...counts) > 100, `requests per node: ${counts.join(", ")}`);
      });
    }
  });
}
