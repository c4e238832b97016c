import type { Descriptor } from "../oci/manifest.js";
import type { Reference } from "../oci/names.js";
import { type Page, paginate } from "../oci/pagination.js";
import type { RangeRequest } from "../oci/range.js";
import { type Missing, NotFoundError } from "../util/errors.js";
import type {
  BlobContent,
  CacheStatus,
  ManifestContent,
  ManifestRequest,
  Repository,
  RepositoryDescription,
  RepositoryWriter,
} from "./repository.js";

/**
 * Ordered members behind one name (Nexus' group): a read is answered by the first member that
 * has the content, a push goes to the designated hosted member, listings are the merged view.
 * Each member applies its own rules, so the group can never serve what a member would not.
 */
export class GroupRepository implements Repository {
  readonly name: string;
  readonly members: readonly Repository[];
  readonly writer: RepositoryWriter | undefined;
  /** containerd's `?ns=` names a registry, which only a proxy member stands for. */
  readonly registryHosts: readonly string[] = [];

  constructor(
    name: string,
    members: readonly Repository[],
    pushTo: Repository | undefined,
    writer: RepositoryWriter | undefined = pushTo?.writer,
  ) {
    this.name = name;
    this.members = members;
    this.writer = writer;
  }

  visibleTo(canRead: (member: Repository) => boolean): Repository {
    const members = this.members.filter(canRead).map((member) => member.visibleTo(canRead));
    return new GroupRepository(this.name, members, undefined, this.writer);
  }

  async describe(): Promise<RepositoryDescription> {
    return {
      type: "group",
      name: this.name,
      members: this.members.map((member) => member.name),
      pushTo: this.writer?.name,
    };
  }

  /**
   * Asks the members in order. When none has it: the first real failure (an upstream outage
   * says more than "unknown"), else the members' "not found".
   */
  async #first<T>(missing: Missing, read: (member: Repository) => Promise<T>): Promise<T> {
    let failure: unknown;
    let absence: unknown;
    for (const member of this.members) {
      try {
        return await read(member);
      } catch (error) {
        if (error instanceof NotFoundError) absence ??= error;
        else failure ??= error;
      }
    }
    throw failure ?? absence ?? new NotFoundError(missing);
  }

  /**
   * Runs a listing on every member. Members that do not know the name, or cannot answer (a proxy
   * whose upstream is down), add nothing; only when no member answers is that the answer.
   */
  async #all<T>(list: (member: Repository) => Promise<T>): Promise<{ results: T[]; absence: unknown }> {
    const results: T[] = [];
    let absence: unknown;
    let failure: unknown;
    for (const member of this.members) {
      try {
        results.push(await list(member));
      } catch (error) {
        if (error instanceof NotFoundError) absence ??= error;
        else failure ??= error;
      }
    }
    if (results.length === 0 && failure !== undefined) throw failure;
    return { results, absence };
  }

  statBlob(name: string, digest: string): Promise<{ size: number | undefined; cache: CacheStatus }> {
    return this.#first("blob", (member) => member.statBlob(name, digest));
  }

  openBlob(name: string, digest: string, range?: RangeRequest): Promise<BlobContent> {
    return this.#first("blob", (member) => member.openBlob(name, digest, range));
  }

  getManifest(name: string, reference: Reference, request: ManifestRequest): Promise<ManifestContent> {
    return this.#first("manifest", (member) => member.getManifest(name, reference, request));
  }

  async hasLocalBlob(name: string, digest: string): Promise<boolean> {
    for (const member of this.members) if (await member.hasLocalBlob(name, digest)) return true;
    return false;
  }

  async listTags(name: string, requested: Page): Promise<{ tags: string[]; more: boolean }> {
    const { results, absence } = await this.#all((member) => member.listTags(name, {}));
    if (results.length === 0) throw absence ?? new NotFoundError("name", { name });
    const { values, more } = paginate(
      results.flatMap((result) => result.tags),
      requested,
    );
    return { tags: values, more };
  }

  async listReferrers(name: string, digest: string): Promise<Descriptor[]> {
    const { results } = await this.#all((member) => member.listReferrers(name, digest));
    const seen = new Set<string>();
    return results.flat().filter((descriptor) => !seen.has(descriptor.digest) && seen.add(descriptor.digest));
  }

  async listNames(requested: Page): Promise<{ names: string[]; more: boolean }> {
    const { results } = await this.#all((member) => member.listNames({}));
    const { values, more } = paginate(
      results.flatMap((result) => result.names),
      requested,
    );
    return { names: values, more };
  }
}
