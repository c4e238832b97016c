#!/usr/bin/env node
// npm run bench:cluster: three wharf nodes against one, on the same Ceph RGW and PostgreSQL, the
// same cold and warm pulls by 10 and 50 concurrent clients spread over the nodes (round robin, as a
// load balancer would): wall time, upstream GETs per blob, statements the database ran per pull,
// and the first-byte time of a client of a node that is not the one downloading. A fresh cache
// (new bucket prefix, new database schema, nodes restarted) before every cold pull.
import { createHash } from "node:crypto";
import fs from "node:fs";
import { Command } from "commander";
import { Agent, request } from "undici";
import YAML from "yaml";
import { cephRgw, s3Prefix } from "../test/harness/backends/ceph-rgw.js";
import { type PostgresServer, startPostgres } from "../test/harness/backends/postgres.js";
import { type ProxyFixture, withProxy } from "../test/harness/fixtures/proxy.js";
import { getImage, type TestImage } from "../test/harness/images/test-images.js";
import { freePort } from "../test/harness/system/ports.js";
import { exampleConfig } from "../test/harness/wharf/examples.js";
import { startWharf, type Wharf } from "../test/harness/wharf/start.js";
import { describeEnvironment, loadAverage } from "./environment.js";
import { round1 } from "./stats.js";

const ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

interface PullRun {
  readonly nodes: number;
  readonly clients: number;
  readonly cache: "cold" | "warm";
  readonly wallSeconds: number;
  /** Upstream blob GETs per blob of the image: the most any blob needed, and in all. */
  readonly upstreamGetsMax: number;
  readonly upstreamGets: number;
  /** Statements (transactions) the database committed, per client pull. */
  readonly dbStatementsPerPull: number;
  readonly failed: number;
}

interface FirstByte {
  readonly nodes: number;
  /** The client that started the download, on its node. */
  readonly leaderMs: number;
  /** A client arriving 100 ms later on another node (on the same node when there is one). */
  readonly followerMs: number;
  /** The whole download, for scale. */
  readonly downloadMs: number;
  readonly upstreamGets: number;
}

/** One client's pull: the manifest by tag, then config and layers four at a time, each hashed. */
async function pull(agent: Agent, base: string, repo: string): Promise<void> {
  const manifest = await request(`${base}/v2/${repo}/manifests/latest`, {
    dispatcher: agent,
    headers: { accept: ACCEPT },
  });
  const body = Buffer.from(await manifest.body.arrayBuffer());
  if (manifest.statusCode !== 200) throw new Error(`manifest: ${manifest.statusCode} ${body}`);
  const parsed = JSON.parse(body.toString()) as {
    config: { digest: string };
    layers: Array<{ digest: string }>;
  };
  const blobs = [parsed.config.digest, ...parsed.layers.map((layer) => layer.digest)];
  const queue = [...blobs];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let digest = queue.shift(); digest; digest = queue.shift()) {
        const got = await request(`${base}/v2/${repo}/blobs/${digest}`, { dispatcher: agent });
        const hash = createHash("sha256");
        for await (const chunk of got.body) hash.update(chunk as Buffer);
        if (got.statusCode !== 200 || `sha256:${hash.digest("hex")}` !== digest)
          throw new Error(`blob ${digest}: ${got.statusCode}, not byte-exact`);
      }
    }),
  );
}

/** Blob GETs the upstream answered with bytes, per digest (a 401 challenge before a token moves none). */
function downloads(fx: ProxyFixture): Map<string, number> {
  const counted = new Map<string, number>();
  for (const request of fx.faults.requests()) {
    const digest = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(request.path)?.[1];
    if (request.method === "GET" && digest && request.status > 0 && request.status < 400)
      counted.set(digest, (counted.get(digest) ?? 0) + 1);
  }
  return counted;
}

async function statements(postgres: PostgresServer): Promise<number> {
  const { rows } = await postgres.query(
    "SELECT xact_commit::bigint AS n FROM pg_stat_database WHERE datname = current_database()",
  );
  return Number((rows[0] as { n: string }).n);
}

/** The database's statistics lag by up to half a second (stats_fetch_consistency, the collector). */
async function settledStatements(postgres: PostgresServer): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 600));
  await postgres.query("SELECT pg_stat_clear_snapshot()");
  return statements(postgres);
}

async function startCluster(
  count: number,
  fx: ProxyFixture,
  postgres: PostgresServer,
  label: string,
): Promise<Wharf[]> {
  const s3 = cephRgw();
  const config = exampleConfig("cluster.yaml");
  (config.repositories["docker-hub"] as Record<string, unknown>).upstream = { url: fx.faults.url };
  (config.storage as { s3: Record<string, unknown> }).s3.prefix = s3Prefix(`bench-${label}`);
  const env = {
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: s3.bucket,
    S3_ACCESS_KEY: s3.accessKey,
    S3_SECRET_KEY: s3.secretKey,
    DATABASE_URL: await postgres.schemaUrl(label),
  };
  const nodes: Wharf[] = [];
  for (let i = 0; i < count; i++) {
    const address = `127.0.0.1:${await freePort()}`;
    nodes.push(
      await startWharf({
        configYaml: YAML.stringify(config),
        env: { ...env, WHARF_LISTEN: address, REGISTRY_HTTP_ADDR: address },
      }),
    );
  }
  return nodes;
}

async function pullRun(
  nodes: Wharf[],
  clients: number,
  cache: "cold" | "warm",
  repo: string,
  fx: ProxyFixture,
  postgres: PostgresServer,
): Promise<PullRun> {
  const agent = new Agent({ connections: 8 });
  fx.faults.resetStats();
  const before = await settledStatements(postgres);
  const started = performance.now();
  const settled = await Promise.allSettled(
    Array.from({ length: clients }, (_, i) => pull(agent, (nodes[i % nodes.length] as Wharf).url, repo)),
  );
  const wallSeconds = (performance.now() - started) / 1000;
  const after = await settledStatements(postgres);
  await agent.close();
  const gets = [...downloads(fx).values()];
  return {
    nodes: nodes.length,
    clients,
    cache,
    wallSeconds: Math.round(wallSeconds * 100) / 100,
    upstreamGetsMax: Math.max(0, ...gets),
    upstreamGets: gets.reduce((sum, n) => sum + n, 0),
    dbStatementsPerPull: round1((after - before) / clients),
    failed: settled.filter((outcome) => outcome.status === "rejected").length,
  };
}

async function firstByte(
  nodes: Wharf[],
  image: TestImage,
  repo: string,
  fx: ProxyFixture,
  mibPerSec: number,
): Promise<FirstByte> {
  const layer = image.manifests[0]?.layers[0];
  if (!layer) throw new Error("no layer");
  fx.faults.resetStats();
  fx.faults.setMode("slow-blob", { digests: [layer.digest], bytesPerSec: mibPerSec * 2 ** 20 });
  const agent = new Agent();
  const get = async (base: string) => {
    const started = performance.now();
    const got = await request(`${base}/v2/${repo}/blobs/${layer.digest}`, { dispatcher: agent });
    let first: number | undefined;
    for await (const _chunk of got.body) first ??= performance.now() - started;
    return { first: first ?? Number.NaN, total: performance.now() - started };
  };
  try {
    const leader = get((nodes[0] as Wharf).url);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const follower = await get((nodes[1] ?? (nodes[0] as Wharf)).url);
    const led = await leader;
    return {
      nodes: nodes.length,
      leaderMs: Math.round(led.first),
      followerMs: Math.round(follower.first),
      downloadMs: Math.round(led.total),
      upstreamGets: downloads(fx).get(layer.digest) ?? 0,
    };
  } finally {
    fx.faults.setMode("ok");
    await agent.close();
  }
}

async function main(options: { clients: number[]; mibPerSec: number; out?: string }): Promise<void> {
  const environment = await describeEnvironment();
  const big = getImage("big");
  const probes = [1, 3].map((nodes) => getImage("big", { seed: 100 + nodes, bigLayerCount: 1 }));
  const postgres = await startPostgres();
  const fx = await withProxy({
    upstream: {
      images: [
        { image: big, ref: "library/big:latest" },
        ...probes.map((image, i) => ({ image, ref: `library/probe${i}:latest` })),
      ],
    },
    faults: {},
    wharf: false,
  });
  const runs: PullRun[] = [];
  const firstBytes: FirstByte[] = [];
  let schema = 0;
  try {
    for (const count of [1, 3]) {
      for (const clients of options.clients) {
        const nodes = await startCluster(count, fx, postgres, `bench_${count}_${clients}_${++schema}`);
        try {
          runs.push(await pullRun(nodes, clients, "cold", "library/big", fx, postgres));
          runs.push(await pullRun(nodes, clients, "warm", "library/big", fx, postgres));
          process.stderr.write(`${count} node(s), ${clients} clients: done\n`);
        } finally {
          for (const node of nodes) await node.close();
        }
      }
      const nodes = await startCluster(count, fx, postgres, `bench_probe_${count}_${++schema}`);
      try {
        const which = count === 1 ? 0 : 1;
        firstBytes.push(
          await firstByte(nodes, probes[which] as TestImage, `library/probe${which}`, fx, options.mibPerSec),
        );
      } finally {
        for (const node of nodes) await node.close();
      }
    }
  } finally {
    await fx.close();
    await postgres.stop();
  }
  environment.machine.loadAverage.end = loadAverage();
  const lines = [
    `CLUSTER: library/big (4 layers of 8 MiB) pulled by N clients spread round-robin over the nodes; Ceph RGW + PostgreSQL`,
    `machine: ${environment.machine.cores} cores, load ${environment.machine.loadAverage.start} → ${environment.machine.loadAverage.end}; ${environment.versions.wharf}`,
    "nodes  clients  cache  wall s  upstream GETs/blob (max, all)  db statements/pull  failed",
    ...runs.map(
      (run) =>
        `${String(run.nodes).padStart(5)}  ${String(run.clients).padStart(7)}  ${run.cache.padEnd(5)}  ${String(run.wallSeconds).padStart(6)}  ${`${run.upstreamGetsMax}, ${run.upstreamGets}`.padStart(29)}  ${String(run.dbStatementsPerPull).padStart(18)}  ${run.failed}`,
    ),
    "",
    `FIRST BYTE: a cold 8 MiB blob at ${options.mibPerSec} MiB/s upstream; a second client 100 ms after the first, on another node when there is one`,
    "nodes  first client ms  second client ms  download ms  upstream GETs",
    ...firstBytes.map(
      (row) =>
        `${String(row.nodes).padStart(5)}  ${String(row.leaderMs).padStart(15)}  ${String(row.followerMs).padStart(16)}  ${String(row.downloadMs).padStart(11)}  ${String(row.upstreamGets).padStart(13)}`,
    ),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  if (options.out) fs.writeFileSync(options.out, JSON.stringify({ environment, runs, firstBytes }, null, 2));
}

const program = new Command("bench-cluster")
  .option("--clients <list>", "concurrent clients per run, comma-separated", "10,50")
  .option("--mib-per-sec <n>", "the upstream's rate for the first-byte probe", "16")
  .option("--out <file>", "also write the figures as JSON")
  .action(async (opts: { clients: string; mibPerSec: string; out?: string }) =>
    main({
      clients: opts.clients.split(",").map(Number),
      mibPerSec: Number(opts.mibPerSec),
      ...(opts.out ? { out: opts.out } : {}),
    }),
  );
await program.parseAsync();
