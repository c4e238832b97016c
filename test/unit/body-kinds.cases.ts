// The four blob body kinds sent by the real handler (http/handlers/blobs.ts) on a loopback server in
// this process. Run twice: by body-kinds.test.ts with sendfile as the build gives it (it must be
// built), and by body-kinds-streamed.test.ts with WHARF_SENDFILE=off. Each case also checks which way
// the bytes went, so a sendfile path that silently fell back to piping fails here.
import assert from "node:assert/strict";
import http, { type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { describe, type TestContext, test } from "node:test";
import pino from "pino";
import { RequestContext } from "../../src/http/context.js";
import { getBlob } from "../../src/http/handlers/blobs.js";
import { sendfileAvailable } from "../../src/http/sendfile.js";
import { digestOf } from "../../src/oci/digest.js";
import type { RangeRequest } from "../../src/oci/range.js";
import { rangeResolver } from "../../src/repos/content.js";
import type { BlobContent, Repository } from "../../src/repos/repository.js";
import { type BlobBody, type BytesBody, streamBody } from "../../src/store/blob-body.js";
import { appendAll } from "../../src/store/blob-writer.js";
import { stageDownload } from "../../src/store/download-staging.js";
import { BlobFill } from "../../src/store/fill.js";
import { FsBlobStore } from "../../src/store/fs-blob-store.js";
import { Spool } from "../../src/store/spool.js";
import { MemoryBlobStore } from "../fakes/memory-blob-store.js";
import { tempDir } from "./helpers.js";
import { chunksOf, MiB, parsedDigestOf, pseudoRandomBytes, until } from "./store-helpers.js";

const BIG = pseudoRandomBytes(3 * MiB + 5, 31);
const SMALL = pseudoRandomBytes(200_000, 32);

/** How a body was used: which of its forms the sender asked for, and how often it was released. */
interface Use {
  stream: boolean;
  pieces: boolean;
  released: number;
}

/** The same body, recording how the sender used it. */
function watched(body: BytesBody): { body: BytesBody; use: Use } {
  const use: Use = { stream: false, pieces: false, released: 0 };
  const common = {
    stream: () => {
      use.stream = true;
      return body.stream();
    },
    release: () => {
      use.released += 1;
      body.release();
    },
  };
  if (body.kind === "in-progress") {
    return {
      use,
      body: {
        ...body,
        ...common,
        pieces: () => {
          use.pieces = true;
          return body.pieces();
        },
      },
    };
  }
  return { use, body: { ...body, ...common } };
}

type Opener = (range: RangeRequest | undefined) => Promise<BlobContent>;

/** A loopback server whose one repository answers every blob GET with what `open` gives. */
async function serve(t: TestContext, open: Opener): Promise<string> {
  const log = pino({ level: "silent" });
  const repository = { openBlob: (_name: string, _digest: string, range?: RangeRequest) => open(range) };
  const server = http.createServer((req, res) => {
    const ctx = new RequestContext(req, res, log, {}, { path: req.url ?? "/", query: new URLSearchParams() });
    const target = { repository: repository as unknown as Repository, name: "app", clientName: "app" };
    const digest = (req.url ?? "").slice(1);
    getBlob(ctx, target, digest).catch((error: unknown) => {
      res.destroy();
      throw error;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function get(
  base: string,
  digest: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/${digest}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** A content with the request's range resolved against `size`, as the repositories build it. */
function content(
  size: number | undefined,
  range: RangeRequest | undefined,
  body: (selected?: { start: number; end: number }) => BlobBody | Promise<BlobBody>,
) {
  return async (): Promise<BlobContent> => {
    const selected = range && size !== undefined ? rangeResolver(range)(size) : undefined;
    return { size, body: await body(selected), cache: "hit", ...(selected ? { range: selected } : {}) };
  };
}

export function bodyKindCases(mode: "sendfile" | "streamed"): void {
  const viaSendfile = mode === "sendfile";

  describe(`blob bodies ${viaSendfile ? "with sendfile" : "streamed (WHARF_SENDFILE=off)"}`, () => {
    test("the sendfile addon is in use exactly when it should be", () => {
      assert.equal(
        sendfileAvailable,
        viaSendfile,
        viaSendfile
          ? "the sendfile addon is not built (build/Release/wharf_sendfile.node): install g++, make and python3, then npm rebuild"
          : "WHARF_SENDFILE=off did not switch sendfile off",
      );
    });

    describe("file", () => {
      const digest = digestOf(BIG);
      /** A store holding BIG, and an opener of it that records how each body was used. */
      async function stored(t: TestContext): Promise<{ open: Opener; uses: Use[] }> {
        const root = await tempDir(t, "body-kinds");
        const store = new FsBlobStore({
          blobs: join(root, "blobs"),
          staging: new Spool(join(root, "tmp")),
          sessions: join(root, "uploads"),
        });
        await store.init();
        const writer = await store.begin();
        await appendAll(writer, BIG);
        await writer.commit(digest);
        const uses: Use[] = [];
        const open: Opener = (requested) =>
          content(BIG.byteLength, requested, async (selected) => {
            const { body, use } = watched(await store.read(digest, selected));
            uses.push(use);
            return body;
          })();
        return { open, uses };
      }

      for (const [why, range, expected] of [
        ["whole", undefined, BIG],
        ["a range", "bytes=1000-2000999", BIG.subarray(1000, 2_001_000)],
        ["the last byte", `bytes=${BIG.byteLength - 1}-`, BIG.subarray(BIG.byteLength - 1)],
      ] as const) {
        test(`a stored blob, ${why}`, async (t) => {
          const { open, uses } = await stored(t);
          const answer = await get(await serve(t, open), digest, range ? { range } : {});
          assert.equal(answer.status, range ? 206 : 200);
          assert.equal(Number(answer.headers["content-length"]), expected.byteLength);
          assert.ok(answer.body.equals(expected), "the bytes differ");
          await until(() => uses[0]?.released === 1, "the body is released once");
          assert.equal(
            uses[0]?.stream,
            !viaSendfile,
            viaSendfile ? "piped instead of sendfile" : "not piped",
          );
        });
      }

      test("a HEAD releases the file unread", async (t) => {
        const { open, uses } = await stored(t);
        const answer = await get(await serve(t, open), digest, {}, "HEAD");
        assert.equal(answer.status, 200);
        assert.equal(answer.body.byteLength, 0);
        await until(() => uses[0]?.released === 1, "the body is released");
        assert.equal(uses[0]?.stream, false);
      });
    });

    describe("in-progress", () => {
      const stores = [
        [
          "a store with a local staging file",
          (root: string, spool: Spool) =>
            new FsBlobStore({ blobs: join(root, "blobs"), staging: spool, sessions: join(root, "uploads") }),
        ],
        ["a store without one (the download's own spool file)", () => new MemoryBlobStore()],
      ] as const;
      for (const [storeWhy, makeStore] of stores) {
        for (const [sizeWhy, bytes, range] of [
          ["big, whole", BIG, undefined],
          ["big, a range", BIG, "bytes=2000000-"],
          ["small (sent from memory)", SMALL, undefined],
        ] as const) {
          test(`a download, ${sizeWhy}, into ${storeWhy}`, async (t) => {
            const root = await tempDir(t, "body-kinds");
            const spool = new Spool(join(root, "tmp"));
            await spool.init();
            const store = makeStore(root, spool);
            const source = new PassThrough();
            const fill = await BlobFill.create(
              parsedDigestOf(bytes),
              { size: bytes.byteLength, body: source },
              () => stageDownload(store, spool, digestOf(bytes)),
            );
            const uses: Use[] = [];
            const base = await serve(t, (requested) =>
              content(bytes.byteLength, requested, (selected) => {
                const { body, use } = watched(fill.createBody(selected) as BytesBody);
                uses.push(use);
                return body;
              })(),
            );
            const answering = get(base, digestOf(bytes), range ? { range } : {});
            fill.run();
            await until(() => uses.length === 1, "the request reached the download");
            for (const chunk of chunksOf(bytes, 256 * 1024)) {
              source.write(chunk);
              await new Promise((resolve) => setImmediate(resolve));
            }
            source.end();
            const answer = await answering;
            const expected = range ? bytes.subarray(2_000_000) : bytes;
            assert.equal(answer.status, range ? 206 : 200);
            assert.ok(answer.body.equals(expected), "the bytes differ");
            assert.deepEqual(await fill.done, { stored: true });
            await until(() => uses[0]?.released === 1, "the body is released once");
            const use = uses[0] as Use;
            assert.deepEqual([use.pieces, use.stream], viaSendfile ? [true, false] : [false, true]);
          });
        }
      }

      test("a client that leaves mid-download releases its reader; the download goes on", async (t) => {
        const root = await tempDir(t, "body-kinds");
        const spool = new Spool(join(root, "tmp"));
        await spool.init();
        const store = new FsBlobStore({
          blobs: join(root, "blobs"),
          staging: spool,
          sessions: join(root, "uploads"),
        });
        const source = new PassThrough();
        const fill = await BlobFill.create(parsedDigestOf(BIG), { size: BIG.byteLength, body: source }, () =>
          stageDownload(store, spool, digestOf(BIG)),
        );
        const base = await serve(t, (requested) =>
          content(BIG.byteLength, requested, () => fill.createBody() as BytesBody)(),
        );
        fill.run();
        const chunks = chunksOf(BIG, 256 * 1024);
        await new Promise<void>((resolve, reject) => {
          const req = http.get(`${base}/${digestOf(BIG)}`, { agent: false }, (res) => {
            res.once("data", () => {
              req.destroy();
              resolve();
            });
          });
          req.on("error", (error) =>
            (error as NodeJS.ErrnoException).code === "ECONNRESET" ? resolve() : reject(error),
          );
          // Enough to reach the client past the held-back last byte.
          for (const chunk of chunks.slice(0, 8)) source.write(chunk);
        });
        for (const chunk of chunks.slice(8)) source.write(chunk);
        source.end();
        assert.deepEqual(await fill.done, { stored: true });
        await until(() => fill.readerCount === 0, "the reader of the client that left is released");
      });
    });

    describe("stream", () => {
      for (const [why, size] of [
        ["of known size", SMALL.byteLength],
        ["of unknown size", undefined],
      ] as const) {
        test(`a plain stream, ${why}`, async (t) => {
          const uses: Use[] = [];
          const base = await serve(t, (requested) =>
            content(size, requested, () => {
              const { body, use } = watched(streamBody(Readable.from(chunksOf(SMALL, 10_000))));
              uses.push(use);
              return body;
            })(),
          );
          const answer = await get(base, digestOf(SMALL));
          assert.equal(answer.status, 200);
          assert.ok(answer.body.equals(SMALL));
          await until(() => uses[0]?.released === 1, "the body is released once");
          assert.equal(uses[0]?.stream, true);
        });
      }
    });

    describe("redirect", () => {
      test("a redirect is a 307 to its URL, with the digest and no body", async (t) => {
        const url = "https://objects.example/bucket/blob?X-Amz-Signature=abc";
        const base = await serve(t, (requested) =>
          content(SMALL.byteLength, requested, () => ({ kind: "redirect", url }))(),
        );
        const answer = await get(base, digestOf(SMALL), { range: "bytes=0-9" });
        assert.equal(answer.status, 307);
        assert.equal(answer.headers.location, url);
        assert.equal(answer.headers["docker-content-digest"], digestOf(SMALL));
        assert.equal(answer.body.byteLength, 0);
      });
    });
  });
}
