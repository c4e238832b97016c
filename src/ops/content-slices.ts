import type { MetadataStore, RepositoryContent } from "../meta/metadata-store.js";
import { readLeftGarbage } from "../util/collect-garbage.js";

/**
 * Names read at once: a repository of many names then never has more than a slice of its rows in
 * memory (read whole at a million blobs, they are hundreds of megabytes). A repository of few
 * names holding many manifests each is still read nearly whole.
 */
export const NAMES_PER_SLICE = 500;

/**
 * A repository's content (`listContent`), a slice of names at a time: every row is in exactly one
 * slice, and an image (which belongs to one name) is whole in its slice. What the slices weighed is
 * counted as garbage once the last one is read (`readLeftGarbage`), since callers keep only what
 * they derive from them.
 */
export async function* contentSlices(
  meta: Pick<MetadataStore, "listNames" | "listContent">,
  repo: string,
  namesPerSlice: number = NAMES_PER_SLICE,
): AsyncGenerator<RepositoryContent> {
  let rows = 0;
  try {
    for (let after: string | undefined; ; ) {
      const { names, more } = await meta.listNames(repo, {
        limit: namesPerSlice,
        ...(after === undefined ? {} : { last: after }),
      });
      const through = more ? names.at(-1) : undefined;
      const slice = await meta.listContent(repo, {
        ...(after === undefined ? {} : { after }),
        ...(through === undefined ? {} : { through }),
      });
      rows += slice.manifests.length + slice.tags.length + slice.blobs.length;
      yield slice;
      if (through === undefined) return;
      after = through;
    }
  } finally {
    readLeftGarbage(rows);
  }
}
