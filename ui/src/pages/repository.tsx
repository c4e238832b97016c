import { useEffect, useState } from "preact/hooks";
import { api, type ImageSort, type JobBody } from "../api.js";
import { Failure } from "../components/bits.js";
import { Table } from "../components/table.js";
import { useApi } from "../components/use-api.js";
import { formatAgo, formatBytes, formatCount, formatTime, shortDigest } from "../format.js";
import { href, replaceParams } from "../router.js";

const PAGE_SIZE = 50;

const COLUMNS: ReadonlyArray<{ sort: ImageSort; label: string; num?: boolean; narrow?: boolean }> = [
  { sort: "name", label: "Image" },
  { sort: "size", label: "Size", num: true },
  { sort: "lastPulled", label: "Last pulled", num: true },
  { sort: "pulls", label: "Pulls", num: true, narrow: true },
  { sort: "created", label: "Pushed or fetched", num: true, narrow: true },
];

const SORTS = new Set<string>(COLUMNS.map((c) => c.sort));

export function RepositoryPage(props: { repository: string; params: URLSearchParams }) {
  const { repository, params } = props;
  const q = params.get("q") ?? "";
  const sortParam = params.get("sort") ?? "name";
  const sort = (SORTS.has(sortParam) ? sortParam : "name") as ImageSort;
  const order = params.get("order") === "desc" ? "desc" : "asc";
  const tagged = params.get("tagged") ?? "";
  const platform = params.get("platform") ?? "";
  const page = Math.max(0, Number(params.get("page") ?? "0") || 0);
  const [search, setSearch] = useState(q);
  const info = useApi(() => api.repository(repository), [repository]);
  const images = useApi(
    () =>
      api.images(repository, {
        q,
        sort,
        order,
        tagged: tagged === "" ? undefined : tagged,
        platform: platform === "" ? undefined : platform,
        offset: page * PAGE_SIZE,
        limit: PAGE_SIZE,
      }),
    [repository, q, sort, order, tagged, platform, page],
  );
  const set = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value === "") next.delete(key);
      else next.set(key, value);
    }
    if (!("page" in changes)) next.delete("page");
    replaceParams(next);
  };
  // Typing narrows the list after a pause, not on every key.
  useEffect(() => {
    if (search === q) return;
    const timer = setTimeout(() => set({ q: search }), 250);
    return () => clearTimeout(timer);
  });
  const sortBy = (column: ImageSort) => {
    const defaultOrder = column === "name" ? "asc" : "desc";
    set({ sort: column, order: sort === column ? (order === "asc" ? "desc" : "asc") : defaultOrder });
  };
  const data = images.data;
  const pages = data ? Math.max(1, Math.ceil(data.total / PAGE_SIZE)) : 1;
  const repo = info.data;
  return (
    <>
      <div class="crumbs">
        <a href={href.overview()}>Overview</a> / {repository}
      </div>
      <h1>{repository}</h1>
      <Failure error={info.error} />
      {repo ? (
        <p class="note">
          {repo.type}
          {repo.upstream ? ` cache of ${repo.upstream.url}` : ""}
          {repo.type === "group" ? ` of ${repo.members.join(", ")}` : ""} · {formatCount(repo.images)} images
          {repo.size.bytes !== null ? ` · ${formatBytes(repo.size.bytes)}` : ""}
          {repo.size.cap !== null ? ` of ${formatBytes(repo.size.cap)}` : ""}
        </p>
      ) : null}
      {repo && repo.sync.length > 0 ? (
        <Table
          caption="Sync"
          columns={[
            { label: "Kept fresh" },
            { label: "Last run" },
            { label: "Tags", narrow: true },
            { label: "Next", narrow: true },
          ]}
        >
          {repo.sync.map((entry) => (
            <tr key={entry.image}>
              <td class="mono">{entry.image}</td>
              <td>
                {entry.lastRun
                  ? `${formatAgo(entry.lastRun.finishedAt)}: ${entry.lastRun.result}${entry.lastRun.reason ? ` (${entry.lastRun.reason})` : ""}`
                  : "not yet"}
              </td>
              <td class="hide-narrow">
                {entry.lastRun ? `${entry.lastRun.tags} looked at, ${entry.lastRun.pulled.length} new` : "–"}
              </td>
              <td class="hide-narrow">{entry.nextRunAt ? formatAgo(entry.nextRunAt) : "–"}</td>
            </tr>
          ))}
        </Table>
      ) : null}
      {repo?.type === "proxy" && repo.actions.includes("pull") ? (
        <Prefetch repository={repository} onDone={images.reload} />
      ) : null}
      <search>
        <form
          class="toolbar"
          onSubmit={(event) => {
            event.preventDefault();
            set({ q: search });
          }}
        >
          <label>
            Search names and tags
            <input type="search" name="q" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
          </label>
          <label>
            Tags
            <select name="tagged" value={tagged} onChange={(e) => set({ tagged: e.currentTarget.value })}>
              <option value="">tagged and untagged</option>
              <option value="true">tagged only</option>
              <option value="false">untagged only</option>
            </select>
          </label>
          <label>
            Platform
            <select
              name="platform"
              value={platform}
              onChange={(e) => set({ platform: e.currentTarget.value })}
            >
              <option value="">any</option>
              {(data?.platforms ?? (platform ? [platform] : [])).map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </label>
        </form>
      </search>
      <Failure error={images.error} />
      <p class="note" aria-live="polite">
        {data ? `${formatCount(data.total)} images${q ? ` matching “${q}”` : ""}` : "Loading…"}
      </p>
      {data && data.images.length > 0 ? (
        <Table
          columns={COLUMNS.map((column) => ({
            num: column.num,
            narrow: column.narrow,
            sorted: sort === column.sort ? (order === "asc" ? "ascending" : "descending") : undefined,
            label: (
              <button type="button" class="sort" onClick={() => sortBy(column.sort)}>
                {column.label}
                {sort === column.sort ? (order === "asc" ? " ▲" : " ▼") : ""}
              </button>
            ),
          }))}
        >
          {data.images.map((image) => (
            <tr key={`${image.repository}/${image.name}@${image.digest}`}>
              <td>
                <a href={href.image(repository, image.name, image.tags[0] ?? image.digest)}>{image.name}</a>
                {repo?.type === "group" ? <span class="note"> in {image.repository}</span> : null}
                <div>
                  {image.tags.slice(0, 6).map((tag) => (
                    <span class="tag" key={tag}>
                      {tag}
                    </span>
                  ))}
                  {image.tags.length > 6 ? <span class="note">+{image.tags.length - 6}</span> : null}
                  {image.tags.length === 0 ? (
                    <span class="note mono">{shortDigest(image.digest)}</span>
                  ) : null}
                </div>
                <div class="note">{image.platforms.join(", ")}</div>
              </td>
              <td class="num">{formatBytes(image.size)}</td>
              <td class="num">
                <span title={formatTime(image.lastPulledAt)}>{formatAgo(image.lastPulledAt)}</span>
              </td>
              <td class="num hide-narrow">{formatCount(image.pulls)}</td>
              <td class="num hide-narrow">
                <span title={formatTime(image.createdAt)}>{formatAgo(image.createdAt)}</span>
              </td>
            </tr>
          ))}
        </Table>
      ) : data ? (
        <p>No images{q || tagged || platform ? " match these filters" : " here yet"}.</p>
      ) : null}
      {data && pages > 1 ? (
        <nav class="pager" aria-label="Pages">
          <button type="button" disabled={page === 0} onClick={() => set({ page: String(page - 1) })}>
            Previous
          </button>
          <span>
            Page {page + 1} of {pages}
          </span>
          <button type="button" disabled={page + 1 >= pages} onClick={() => set({ page: String(page + 1) })}>
            Next
          </button>
        </nav>
      ) : null}
    </>
  );
}

/** Pulls an image into the cache on the server, through the repository as a client would. */
function Prefetch(props: { repository: string; onDone: () => void }) {
  const [image, setImage] = useState("");
  const [job, setJob] = useState<JobBody | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const start = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    const at = image.lastIndexOf(":");
    const slash = image.lastIndexOf("/");
    const [name, reference] = at > slash ? [image.slice(0, at), image.slice(at + 1)] : [image, "latest"];
    try {
      let running = await api.prefetch(props.repository, name, reference);
      setJob(running);
      while (running.state === "running") {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        running = await api.job(running.id);
        setJob(running);
      }
      props.onDone();
    } catch (caught) {
      setError(caught as Error);
    }
  };
  return (
    <details class="card">
      <summary>Prefetch an image into this cache</summary>
      <form class="toolbar" onSubmit={start}>
        <label>
          Image (name:tag)
          <input
            name="image"
            required
            placeholder="library/alpine:3.20"
            value={image}
            onInput={(e) => setImage(e.currentTarget.value)}
          />
        </label>
        <button type="submit" class="primary" disabled={job?.state === "running"}>
          Prefetch
        </button>
      </form>
      <Failure error={error} />
      {job ? (
        <p role="status">
          {job.image}: {job.state}
          {job.blobs !== null
            ? `, ${formatCount(job.blobs)} blobs, ${formatCount(job.blobsFetched)} of them (${formatBytes(job.bytesFetched)}) fetched from upstream`
            : ""}
          {job.error ? `: ${job.error}` : ""}
        </p>
      ) : null}
    </details>
  );
}
