/** The spec's pagination of tag lists and the catalog: at most `limit` values after `last`. */
export interface Page {
  readonly limit?: number;
  /** Exclusive lower bound in lexical order, as the spec's `last` parameter. */
  readonly last?: string;
}

/**
 * One page of `values` as a registry lists them: sorted, each once, those after `last`, at most
 * `limit`; `more` says whether the cut left any out. Listings that merge several sources (a
 * group's members) or come from an upstream that ignores `n` and `last` (registry:v2) page here,
 * so every listing pages alike.
 */
export function paginate(
  values: Iterable<string>,
  { limit, last }: Page,
): { values: string[]; more: boolean } {
  const after = [...new Set(values)].filter((value) => last === undefined || value > last).sort();
  const end = limit ?? after.length;
  return { values: after.slice(0, end), more: after.length > end };
}
