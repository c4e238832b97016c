#!/usr/bin/env node
// npm run bench:logins: what a flood of logins costs everyone else. A fresh wharf (authentication
// on) holds a blob in a hosted repository; a user with cached credentials GETs it while nobody
// logs in, while N clients send the same wrong password at once (checked once), and while N send
// N different wrong passwords (two hashes at a time, 64 waiting, the rest 429).
import { createHash } from "node:crypto";
import { Command, InvalidArgumentError } from "commander";
import { startWharf, type Wharf } from "../test/harness/wharf/start.js";
import { round1 } from "./stats.js";

const ADMIN = { username: "admin", password: `bench-${process.pid}-admin` };
const basic = (username: string, password: string) =>
  `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;

async function pushBlob(wharf: Wharf, bytes: Buffer): Promise<string> {
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  const res = await fetch(`${wharf.url}/v2/internal/bench/blobs/uploads/?digest=${digest}`, {
    method: "POST",
    headers: {
      authorization: basic(ADMIN.username, ADMIN.password),
      "content-type": "application/octet-stream",
    },
    body: bytes,
  });
  if (res.status !== 201) throw new Error(`blob push answered ${res.status}: ${await res.text()}`);
  return digest;
}

/** Median milliseconds of `rounds` sequential GETs of the blob, as the admin. */
async function timeGets(wharf: Wharf, digest: string, rounds: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    const res = await fetch(`${wharf.url}/v2/internal/bench/blobs/${digest}`, {
      headers: { authorization: basic(ADMIN.username, ADMIN.password) },
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`blob GET answered ${res.status}`);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? 0;
}

type Flood = "none" | "same" | "distinct";

async function measure(wharf: Wharf, digest: string, flood: Flood, clients: number) {
  const started = performance.now();
  const logins =
    flood === "none"
      ? []
      : Array.from({ length: clients }, (_, i) =>
          fetch(`${wharf.url}/token?service=wharf`, {
            headers: { authorization: basic("admin", flood === "same" ? "wrong" : `wrong-${i}`) },
          }).then(async (res) => {
            await res.arrayBuffer();
            return res.status;
          }),
        );
  await new Promise((resolve) => setTimeout(resolve, 50));
  const getMs = await timeGets(wharf, digest, 5);
  const statuses = await Promise.all(logins);
  const count = (status: number) => statuses.filter((s) => s === status).length;
  return {
    flood,
    getMs: round1(getMs),
    floodSeconds: flood === "none" ? 0 : round1((performance.now() - started) / 1000),
    refused401: count(401),
    refused429: count(429),
  };
}

async function main(clients: number): Promise<void> {
  const wharf = await startWharf({
    configYaml: "repositories:\n  internal: { type: hosted }\n",
    env: { WHARF_ADMIN_PASSWORD: ADMIN.password },
    secured: true,
  });
  try {
    const digest = await pushBlob(wharf, Buffer.alloc(4 * 2 ** 20, 7));
    await timeGets(wharf, digest, 3); // warm: page cache, the admin's credentials remembered
    const rows = [];
    for (const flood of ["none", "same", "distinct"] as const)
      rows.push(await measure(wharf, digest, flood, clients));
    process.stdout.write(
      `LOGIN FLOOD: ${clients} wrong logins at once; a 4 MiB warm blob GET meanwhile (median of 5)\n`,
    );
    process.stdout.write("flood     blob GET ms  flood s  401  429\n");
    for (const row of rows) {
      process.stdout.write(
        `${row.flood.padEnd(8)}  ${String(row.getMs).padStart(11)}  ${String(row.floodSeconds).padStart(7)}  ${String(row.refused401).padStart(3)}  ${String(row.refused429).padStart(3)}\n`,
      );
    }
  } finally {
    await wharf.close();
  }
}

const program = new Command("bench-logins")
  .option(
    "--clients <n>",
    "wrong logins sent at once",
    (value) => {
      const n = Number(value);
      if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError("expected a positive integer");
      return n;
    },
    200,
  )
  .action(async (opts: { clients: number }) => main(opts.clients));
await program.parseAsync();
