import { readdir, readFile } from "node:fs/promises";
import { extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { OciError } from "../../oci/errors.js";
import type { RequestContext } from "../context.js";
import { sendBytes } from "../respond.js";

/** Where `npm run build` puts the dashboard: this module is dist/src/http/admin/static-ui.js. */
export const UI_DIRECTORY = fileURLToPath(new URL("../../../ui/", import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The page may load only what wharf serves itself (no CDN, nothing inline), may not be framed
 * (clickjacking) and talks only to its own origin.
 */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
} as const;

interface StaticFile {
  readonly type: string;
  readonly bytes: Buffer;
  readonly gzipped: Buffer | undefined;
  /** Vite names assets by their content hash: such a file never changes under its name. */
  readonly immutable: boolean;
}

async function* filesIn(directory: string): AsyncGenerator<string> {
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) yield* filesIn(path);
    else if (entry.isFile()) yield path;
  }
}

/**
 * The dashboard's built files, read into memory once at start (the bundle is small): only those
 * files can be served, whatever the path says, and each is compressed once, not per request.
 */
export class StaticUi {
  readonly #files: ReadonlyMap<string, StaticFile>;

  private constructor(files: ReadonlyMap<string, StaticFile>) {
    this.#files = files;
  }

  /** The files of `directory`; none (and a page saying how to build them) when it does not exist. */
  static async load(directory = UI_DIRECTORY): Promise<StaticUi> {
    const files = new Map<string, StaticFile>();
    try {
      for await (const path of filesIn(directory)) {
        const name = `/${relative(directory, path).split(sep).join("/")}`;
        const bytes = await readFile(path);
        const type = TYPES[extname(path)] ?? "application/octet-stream";
        const compressible = /^(text\/|image\/svg|application\/json)/.test(type) && bytes.byteLength > 1024;
        files.set(name, {
          type,
          bytes,
          gzipped: compressible ? gzipSync(bytes, { level: 9 }) : undefined,
          immutable: name.startsWith("/assets/"),
        });
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    return new StaticUi(files);
  }

  get built(): boolean {
    return this.#files.has("/index.html");
  }

  async handle(ctx: RequestContext): Promise<void> {
    if (ctx.method !== "GET" && ctx.method !== "HEAD") {
      throw new OciError("UNSUPPORTED", { message: `${ctx.method} is not supported here` });
    }
    const name = ctx.path === "/" ? "/index.html" : ctx.path;
    const file = this.#files.get(name);
    if (!file) {
      if (ctx.path === "/" && !this.built) {
        sendBytes(ctx, 503, Buffer.from(NOT_BUILT), { "content-type": "text/plain; charset=utf-8" });
        return;
      }
      // As for any other path wharf does not serve.
      throw new OciError("NAME_UNKNOWN", { status: 404, message: `nothing at ${ctx.path}` });
    }
    ctx.route = "ui";
    const gzip = file.gzipped !== undefined && /\bgzip\b/.test(ctx.header("accept-encoding") ?? "");
    sendBytes(ctx, 200, gzip && file.gzipped ? file.gzipped : file.bytes, {
      "content-type": file.type,
      "cache-control": file.immutable ? "public, max-age=31536000, immutable" : "no-cache",
      ...(file.gzipped ? { vary: "accept-encoding" } : {}),
      ...(gzip ? { "content-encoding": "gzip" } : {}),
      ...(file.type.startsWith("text/html") ? PAGE_HEADERS : { "x-content-type-options": "nosniff" }),
    });
  }
}

const NOT_BUILT =
  "wharf's dashboard was not built: run `npm run build` in wharf's checkout, then restart wharf.\n" +
  "The registry API (/v2/) and the admin API (/api/v1/) work without it.\n";
