import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { atExit } from "./exit.js";

const unregister = new Map<string, () => void>();

/** WHARF_TEST_KEEP=1 keeps every temp dir for post-mortem debugging. */
export function keepTemp(): boolean {
  return process.env.WHARF_TEST_KEEP === "1";
}

/** A fresh directory under os.tmpdir(); removed by removeTempDir() or, failing that, at process exit. */
export function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `wharf-${prefix}-`));
  unregister.set(
    dir,
    atExit(() => {
      if (!keepTemp()) fs.rmSync(dir, { recursive: true, force: true });
    }),
  );
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  unregister.get(dir)?.();
  unregister.delete(dir);
  if (keepTemp()) return;
  await fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
