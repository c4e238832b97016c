import { randomUUID } from "node:crypto";
import { mkdir, open, readdir, rm } from "node:fs/promises";
import { join } from "node:path";

export type FileHandle = Awaited<ReturnType<typeof open>>;

/**
 * Local scratch files for content on its way into the store: downloads being verified and
 * uploads being received. Nothing here is ever served as verified content, so a crash can
 * leave debris but never corruption; `clean()` at start-up removes that debris.
 */
export class Spool {
  readonly directory: string;

  constructor(directory: string) {
    this.directory = directory;
  }

  async init(): Promise<void> {
    await mkdir(this.directory, { recursive: true });
  }

  /** Removes every leftover file; call only before anything else uses the spool. Returns how many. */
  async clean(): Promise<number> {
    const entries = await readdir(this.directory).catch(() => [] as string[]);
    await Promise.all(
      entries.map((entry) => rm(join(this.directory, entry), { recursive: true, force: true })),
    );
    return entries.length;
  }

  /** A fresh file opened for reading and writing, with a name nothing else uses. */
  async create(prefix: string): Promise<{ path: string; handle: FileHandle }> {
    const path = join(this.directory, `${prefix}-${randomUUID()}`);
    const handle = await open(path, "w+");
    return { path, handle };
  }

  /** The path of a named file in the spool (upload sessions are named by their id). */
  pathOf(name: string): string {
    return join(this.directory, name);
  }
}
