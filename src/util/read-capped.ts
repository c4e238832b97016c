import type { Readable } from "node:stream";

/**
 * Reads a whole body that must stay small (a manifest, a token form), refusing it the moment it
 * passes `limit` rather than after it is all in memory. `tooLarge` makes the error to throw; the
 * stream is left for the caller to drain or destroy, since only it knows which is right.
 */
export async function readCapped(body: Readable, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
