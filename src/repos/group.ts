import type { Page } from "../meta/metadata-store.js";
import { isOciError, OciError, type OciErrorCode } from "../oci/errors.js";
import type { Descriptor } from "../oci/manifest.js";
import type { Reference } from "../oci/names.js";
import type { RangeRequest } from "../oci/range.js";
import type {
  BlobContent,
  CacheStatus,
  ManifestContent,
  ManifestRequest,
  Repository,
  RepositoryWriter,
} from "./repository.js";

/** Answers that mean "not here, ask the next member". */
function isAbsent(error: unknown): boolean {
  return isOciError(error) && error.status === 404;
}

/** Sorts, de-duplicates and pages a merged listing, as one repository would. */
function page(values: Iterable<string>, { limit, last }: Page): { values: string[]; more: boolean } {
  const sorted = [...new Set(values)].sort().filter((value) => last === undefined || value > last);
  const end = limit ?? sorted.length;
  return { values: sorted.slice(0, end), more: sorted.length > end };
}

/**
 * Ordered members behind one name (Nexus' group): a read is answered by the first member that
 * has the content, a push goes to the designated hosted member, listings are the merged view.
 * Each member applies its own rules, so the group can never serve what a member would not.
 */
export class GroupRepository implements Repository {
  readonly kind = "group";
  readonly name: string;
  readonly members: readonly Repository[];
  readonly writer: RepositoryWriter | undefined;

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

  /**
   * The same group with only the members `canRead` admits (nested groups filtered alike): what
   * one client may see through it. Pushes still go to the push_to member.
   */
  visibleTo(canRead: (member: Repository) => boolean): GroupRepository {
    const members = this.members
      .map((member) => (member instanceof GroupRepository ? member.visibleTo(canRead) : member))
      .filter((member) => (member instanceof GroupRepository ? member.members.length > 0 : canRead(member)));
    return new GroupRepository(this.name, members, undefined, this.writer);
  }

  /**
   * Asks the members in order. When none has it: the first real failure (an upstream outage
   * says more than "unknown"), else the members' "not found".
   */
  async #first<T>(absentCode: OciErrorCode, read: (member: Repository) => Promise<T>): Promise<T> {
    let failure: unknown;
    let absence: unknown;
    for (const member of this.members) {
      try {
        return await read(member);
      } catch (error) {
        if (isAbsent(error)) absence ??= error;
        else failure ??= error;
      }
    }
    throw failure ?? absence ?? new OciError(absentCode);
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
        if (isAbsent(error)) absence ??= error;
        else failure ??= error;
      }
    }
    if (results.length === 0 && failure !== undefined) throw failure;
    return { results, absence };
  }

  statBlob(name: string, digest: string): Promise<{ size: number | undefined; cache: CacheStatus }> {
    return this.#first("BLOB_UNKNOWN", (member) => member.statBlob(name, digest));
  }

  openBlob(name: string, digest: string, range?: RangeRequest): Promise<BlobContent> {
    return this.#first("BLOB_UNKNOWN", (member) => member.openBlob(name, digest, range));
  }

  getManifest(name: string, reference: Reference, request: ManifestRequest): Promise<ManifestContent> {
    return this.#first("MANIFEST_UNKNOWN", (member) => member.getManifest(name, reference, request));
  }

  async hasLocalBlob(name: string, digest: string): Promise<boolean> {
    for (const member of this.members) if (await member.hasLocalBlob(name, digest)) return true;
    return false;
  }

  async listTags(name: string, requested: Page): Promise<{ tags: string[]; more: boolean }> {
    const { results, absence } = await this.#all((member) => member.listTags(name, {}));
    if (results.length === 0) throw absence ?? new OciError("NAME_UNKNOWN", { detail: { name } });
    const { values, more } = page(
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
    const { values, more } = page(
      results.flatMap((result) => result.names),
      requested,
    );
    return { names: values, more };
  }
}
