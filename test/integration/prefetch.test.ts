// Issue 9, item 5 (the command): `wharf prefetch` fills a running wharf's cache by pulling through
// it as a client would, with the token protocol when wharf asks for it. Afterwards the images pull
// with the upstream stopped. Without a terminal its output is plain lines.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import YAML from "yaml";
import { skopeoCopy } from "../harness/clients/index.js";
import { pushImage } from "../harness/images/push.js";
import { expectedContent, getImage } from "../harness/images/test-images.js";
import { runCommand } from "../harness/system/proc.js";
import { makeTempDir, removeTempDir } from "../harness/system/tmp.js";
import { startUpstream, type Upstream } from "../harness/upstream/docker-registry.js";
import { runWharfCli } from "../harness/wharf/cli.js";
import { storedDigests } from "../harness/wharf/data.js";
import { inheritedEnv, startWharf, WHARF_MAIN, type Wharf } from "../harness/wharf/start.js";

const ADMIN = { username: "admin", password: "prefetch-admin-pw" };
const BLOB_LINE = /^(sha256:[0-9a-f]{64}) \d+(?:\.\d)? (?:B|KiB|MiB|GiB) (cached|fetched) (\S+)$/;

/** The blob lines of a plain run, by digest: the outcome and the image it was pulled for. */
function blobLines(stdout: string): Map<string, { outcome: string; image: string }> {
  const found = new Map<string, { outcome: string; image: string }>();
  for (const line of stdout.split("\n")) {
    const match = BLOB_LINE.exec(line);
    if (match) found.set(match[1] as string, { outcome: match[2] as string, image: match[3] as string });
  }
  return found;
}

describe("wharf prefetch", () => {
  let up: Upstream;
  let wharf: Wharf;
  const small = getImage("small");
  const docker = getImage("docker");
  const multi = getImage("multi");
  const smallBlobs = expectedContent(small).blobs.map((b) => b.digest);
  const dockerBlobs = expectedContent(docker).blobs.map((b) => b.digest);
  const arm64 = multi.manifests.find((m) => m.platform?.architecture === "arm64")!;
  const amd64 = multi.manifests.find((m) => m.platform?.architecture === "amd64")!;
  const prefetchAs = (args: string[], env: Record<string, string> = { WHARF_PASSWORD: ADMIN.password }) =>
    runWharfCli(["prefetch", "--url", wharf.url, "--user", ADMIN.username, ...args], {
      env,
      timeoutMs: 120_000,
    });

  before(async () => {
    up = await startUpstream({ auth: "token" });
    await pushImage(small, up, "library/small:latest");
    await pushImage(docker, up, "team/app:1");
    await pushImage(multi, up, "library/multi:1", { all: true });
    // Only users may pull: prefetch must follow wharf's token challenge with its credentials.
    const config = {
      auth: { rules: [{ repositories: ["*"], authenticated: ["pull"] }] },
      repositories: { hub: { type: "proxy", upstream: { url: up.url, library_prefix: true } } },
      default_repository: "hub",
    };
    wharf = await startWharf({
      configYaml: YAML.stringify(config),
      secured: true,
      env: { WHARF_ADMIN_PASSWORD: ADMIN.password },
    });
  });
  after(async () => {
    await wharf?.close();
    await up?.close();
  });

  test("pulls every blob through wharf by every kind of reference; plain lines and a summary without a terminal", async (t) => {
    const dir = makeTempDir("prefetch");
    t.after(() => removeTempDir(dir));
    const list = path.join(dir, "images.txt");
    // The default repository, containerd's ?ns= routing by registry host, and a repository prefix.
    fs.writeFileSync(list, `# what the site pulls\nsmall\n${up.host}/team/app:1   # by registry\n`);
    const result = await prefetchAs(["-f", list, "hub/library/multi:1", "--platform", "linux/arm64"]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.ok(
      !result.stdout.includes("\u001b[") && !result.stdout.includes("\r"),
      "no colours, no bars: plain lines",
    );
    const lines = blobLines(result.stdout);
    const arm64Blobs = [arm64.config, ...arm64.layers].map((d) => d.digest);
    assert.deepEqual([...lines.keys()].sort(), [...smallBlobs, ...dockerBlobs, ...arm64Blobs].sort());
    for (const [digest, line] of lines) assert.equal(line.outcome, "fetched", digest);
    assert.equal(lines.get(smallBlobs[0]!)?.image, "small:latest");
    assert.equal(lines.get(dockerBlobs[0]!)?.image, `${up.host}/team/app:1`);
    assert.equal(lines.get(arm64Blobs[0]!)?.image, "hub/library/multi:1");
    const summary = result.stdout.trimEnd().split("\n").at(-1) ?? "";
    assert.match(
      summary,
      new RegExp(`^3 images, ${lines.size} blobs, .* fetched from upstream\\) in \\d+\\.\\d s$`),
    );
    // --platform linux/arm64 took that manifest's blobs and not the other platform's.
    const stored = storedDigests(wharf.dataDir);
    for (const digest of arm64Blobs) assert.ok(stored.includes(digest), digest);
    for (const layer of amd64.layers)
      assert.ok(!stored.includes(layer.digest), `${layer.digest} (amd64) not pulled`);

    // A second run finds everything in the store.
    const again = await prefetchAs(["small", `${up.host}/team/app:1`]);
    assert.equal(again.code, 0, again.stderr);
    const second = blobLines(again.stdout);
    assert.equal(second.size, smallBlobs.length + dockerBlobs.length);
    for (const [digest, line] of second) assert.equal(line.outcome, "cached", digest);
  });

  test("once prefetched, the images pull by tag with the upstream stopped", async (t) => {
    const result = await prefetchAs(["small", "hub/team/app:1", "library/multi:1"]);
    assert.equal(result.code, 0, result.stderr);
    await up.stop();
    t.after(() => up.start());
    const pull = async (ref: string, image: typeof small, all = false) => {
      const out = makeTempDir("pull");
      t.after(() => removeTempDir(out));
      const pulled = await skopeoCopy(`${wharf.host}/${ref}`, out, { creds: ADMIN, all });
      assert.deepEqual(pulled.content, expectedContent(image, { all }), ref);
    };
    await pull("library/small:latest", small);
    await pull("hub/team/app:1", docker);
    await pull("library/multi:1", multi, true);
  });

  test("what fails is reported and sets the exit status; the other images are still pulled", async () => {
    const refused = await runWharfCli(["prefetch", "--url", wharf.url, "small"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /small:latest: .*answered 401/);
    assert.match(refused.stdout, /^1 image, 0 blobs, .*; failed: 1 of 1 images, 0 blobs$/m);

    const mixed = await prefetchAs(["no-such-image:1", "small"]);
    assert.equal(mixed.code, 1);
    assert.match(mixed.stderr, /no-such-image:1: .*answered 404/);
    assert.equal(blobLines(mixed.stdout).size, smallBlobs.length);

    const noPassword = await prefetchAs(["small"], {});
    assert.equal(noPassword.code, 1);
    assert.match(noPassword.stderr, /--user admin needs a password/);
    const fromStdin = await runWharfCli(
      ["prefetch", "--url", wharf.url, "--user", ADMIN.username, "--password-stdin", "small"],
      { input: `${ADMIN.password}\n` },
    );
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
  });

  test("on a terminal: a progress bar per layer, then the blob lines and the summary", async (t) => {
    const dir = makeTempDir("prefetch-tty");
    t.after(() => removeTempDir(dir));
    // script(1) gives the command a pseudo-terminal, as a person's shell would.
    const command = [
      process.execPath,
      WHARF_MAIN,
      "prefetch",
      "--url",
      wharf.url,
      "--user",
      ADMIN.username,
      "small",
    ]
      .map((part) => `'${part}'`)
      .join(" ");
    const typescript = path.join(dir, "typescript");
    await runCommand("script", ["-qec", command, typescript], {
      env: { ...inheritedEnv(), WHARF_PASSWORD: ADMIN.password, TERM: "xterm" },
      timeoutMs: 60_000,
    });
    const screen = fs.readFileSync(typescript, "utf8");
    assert.match(screen, /\|[\u2588\u2591]+\|/, "a bar was drawn");
    for (const digest of smallBlobs)
      assert.match(screen, new RegExp(`${digest} \\S+ \\S+ cached small:latest`));
    assert.match(screen, /1 image, 4 blobs, /);
  });
});
