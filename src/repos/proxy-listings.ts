import type { Descriptor } from "../oci/manifest.js";
import { type Page, paginate } from "../oci/pagination.js";
import { UpstreamError } from "../upstream/errors.js";
import { referrersFromIndex } from "./content.js";
import { absentUpstream, type ProxyContext } from "./proxy-context.js";

/**
 * A proxy's listings. Tags and referrers are the upstream's, which is the truth about what it
 * holds; when it cannot answer, what this repository has cached stands in. Names are what is
 * cached: an upstream catalog may be huge, or not offered at all.
 */
export class ProxyListings {
  readonly #context: ProxyContext;

  constructor(context: ProxyContext) {
    this.#context = context;
  }

  async tags(name: string, page: Page): Promise<{ tags: string[]; more: boolean }> {
    const { upstream, stores, repo } = this.#context;
    try {
      const remote = await upstream.listTags(name, page.limit, page.last);
      // Paged here too: registry:v2 and others ignore `n` and `last`.
      const { values, more } = paginate(remote.tags, page);
      return { tags: values, more: remote.hasMore || more };
    } catch (error) {
      if (!(error instanceof UpstreamError) || !error.allowsStale) throw absentUpstream(error, "name");
      const local = await stores.meta.listTags(repo, name, page);
      if (local.tags.length === 0 && page.last === undefined) throw absentUpstream(error, "name");
      return local;
    }
  }

  async referrers(name: string, digest: string): Promise<Descriptor[]> {
    const local = await this.#context.local.referrers(name, digest);
    let remote: Descriptor[] = [];
    try {
      const index = await this.#context.upstream.referrers(name, digest);
      if (index) remote = referrersFromIndex(index);
    } catch {
      // Referrers are advisory: what is cached still answers when upstream cannot.
    }
    const seen = new Set(remote.map((d) => d.digest));
    return [...remote, ...local.filter((d) => !seen.has(d.digest))];
  }

  names(page: Page): Promise<{ names: string[]; more: boolean }> {
    return this.#context.stores.meta.listNames(this.#context.repo, page);
  }
}
