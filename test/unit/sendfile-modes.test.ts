// Both ways the addon moves a file's bytes to a socket, on loopback sockets of this process: the
// blob handlers only ever use `copy` here (every test client is on this machine), so `pages`
// (sendfile(2), what clients across a network get) is proven here.
import assert from "node:assert/strict";
import { open } from "node:fs/promises";
import net, { type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { type SendMode, sendFileRange, sendfileAvailable, sendModeFor } from "../../src/http/sendfile.js";
import { tempDir } from "./helpers.js";
import { MiB, pseudoRandomBytes } from "./store-helpers.js";

const FILE = pseudoRandomBytes(9 * MiB + 17, 41);

/** A file holding FILE, open for reading; closed after the test. */
async function fileOf(t: TestContext): Promise<number> {
  const path = join(await tempDir(t, "sendfile-modes"), "blob");
  const writing = await open(path, "w");
  await writing.writeFile(FILE);
  await writing.close();
  const handle = await open(path, "r");
  t.after(() => handle.close());
  return handle.fd;
}

/**
 * Connects to a loopback server that runs `send` on its side of the connection and then ends it;
 * resolves with everything received and what `send` did. The client reads one chunk per turn of the
 * event loop, slower than the sender, so the socket fills and the addon waits for it to drain.
 */
async function transfer(
  t: TestContext,
  send: (socket: Socket) => Promise<void>,
): Promise<{ received: Buffer; sent: PromiseSettledResult<void> }> {
  let outcome: Promise<PromiseSettledResult<void>> | undefined;
  const server = net.createServer((socket) => {
    outcome = send(socket).then(
      (value) => ({ status: "fulfilled" as const, value }),
      (reason: unknown) => ({ status: "rejected" as const, reason }),
    );
    void outcome.then(() => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const client = net.connect((server.address() as AddressInfo).port, "127.0.0.1");
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    client.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      client.pause();
      setImmediate(() => client.resume());
    });
    client.on("end", resolve);
    client.on("error", reject);
  });
  assert.ok(outcome, "the server saw no connection");
  return { received: Buffer.concat(chunks), sent: await outcome };
}

describe("the sendfile addon's two ways of sending", {
  skip: !sendfileAvailable && "the addon is not built",
}, () => {
  for (const mode of ["pages", "copy"] as const satisfies readonly SendMode[]) {
    describe(mode, () => {
      test("the whole file, through a socket that keeps filling up", async (t) => {
        const fd = await fileOf(t);
        const { received, sent } = await transfer(t, (socket) =>
          sendFileRange(socket, fd, 0, FILE.byteLength, mode),
        );
        assert.equal(sent.status, "fulfilled");
        assert.equal(received.byteLength, FILE.byteLength);
        assert.ok(received.equals(FILE), "the bytes differ");
      });

      test("a range from an offset, in two sends one after the other", async (t) => {
        const fd = await fileOf(t);
        const { received, sent } = await transfer(t, async (socket) => {
          await sendFileRange(socket, fd, 1_000_001, 3 * MiB, mode);
          await sendFileRange(socket, fd, 7 * MiB, 5, mode);
        });
        assert.equal(sent.status, "fulfilled");
        const expected = Buffer.concat([
          FILE.subarray(1_000_001, 1_000_001 + 3 * MiB),
          FILE.subarray(7 * MiB, 7 * MiB + 5),
        ]);
        assert.ok(received.equals(expected), "the bytes differ");
      });

      test("a file shorter than the range fails after sending what it has", async (t) => {
        const fd = await fileOf(t);
        const start = FILE.byteLength - 1000;
        const { received, sent } = await transfer(t, (socket) =>
          sendFileRange(socket, fd, start, 5000, mode),
        );
        assert.equal(sent.status, "rejected");
        assert.match(String((sent as PromiseRejectedResult).reason), /after 1000 of 5000 bytes/);
        assert.ok(received.equals(FILE.subarray(start)), "the bytes it had differ");
      });
    });
  }

  test("a client on this machine is sent copies", async (t) => {
    const { sent } = await transfer(t, async (socket) => assert.equal(sendModeFor(socket), "copy"));
    assert.equal(sent.status, "fulfilled");
  });
});
