import { useMemo, useState } from "preact/hooks";
import { api, type CallerBody, type RepositoryBody, type SeriesBody } from "../api.js";
import { ActivityList, Failure, Meter, Stat } from "../components/bits.js";
import { Chart, type ChartSeries } from "../components/chart.js";
import { Table } from "../components/table.js";
import { useApi } from "../components/use-api.js";
import { formatAgo, formatBytes, formatCount, formatRatio } from "../format.js";
import { href } from "../router.js";

function routeOf(repository: RepositoryBody): string {
  const { routing } = repository;
  if (routing.port !== null) return `port ${routing.port}`;
  return routing.isDefault ? `/${routing.prefix}/ (default)` : `/${routing.prefix}/`;
}

function budgetOf(repository: RepositoryBody): string {
  const limit = repository.upstream?.rateLimit;
  if (!limit || limit.remaining === undefined) return "–";
  return limit.limit === undefined
    ? formatCount(limit.remaining)
    : `${formatCount(limit.remaining)} / ${formatCount(limit.limit)}`;
}

/** The period's sums, as the charts show them (the series lags the counters by a minute at most). */
function periodTotals(series: SeriesBody | undefined) {
  if (!series) return undefined;
  const sum = (pick: (p: SeriesBody["points"][number]) => number) =>
    series.points.reduce((a, p) => a + pick(p), 0);
  const hits = sum((p) => p.hits);
  const misses = sum((p) => p.misses);
  const bytesServed = sum((p) => p.bytesServed);
  const bytesFetched = sum((p) => p.bytesFetched);
  return {
    hits,
    misses,
    hitRatio: hits + misses === 0 ? null : hits / (hits + misses),
    bytesServed,
    bytesFetched,
    bytesSaved: Math.max(0, bytesServed - bytesFetched),
  };
}

function Charts(props: { series: SeriesBody }) {
  const { points } = props.series;
  const charts = useMemo(() => {
    const times = points.map((p) => Date.parse(p.at));
    const hits: ChartSeries[] = [
      { label: "hits", color: "--chart-1", values: points.map((p) => p.hits) },
      { label: "misses", color: "--chart-2", values: points.map((p) => p.misses) },
    ];
    const bytes: ChartSeries[] = [
      { label: "served", color: "--chart-1", values: points.map((p) => p.bytesServed), format: formatBytes },
      {
        label: "fetched upstream",
        color: "--chart-2",
        values: points.map((p) => p.bytesFetched),
        format: formatBytes,
      },
      {
        label: "saved",
        color: "--chart-3",
        values: points.map((p) => Math.max(0, p.bytesServed - p.bytesFetched)),
        format: formatBytes,
      },
    ];
    const budget: ChartSeries[] = [
      { label: "pulls left", color: "--chart-4", values: points.map((p) => p.budgetRemaining) },
    ];
    return { times, hits, bytes, budget };
  }, [points]);
  const per = props.series.resolution;
  const sum = (values: ReadonlyArray<number | null>) => values.reduce<number>((a, v) => a + (v ?? 0), 0);
  const lastBudget = [...points].reverse().find((p) => p.budgetRemaining !== null)?.budgetRemaining ?? null;
  return (
    <div class="charts">
      <Chart
        title={`Hits and misses per ${per}`}
        summary={`${formatCount(sum(charts.hits[0]?.values ?? []))} hits and ${formatCount(sum(charts.hits[1]?.values ?? []))} misses in the period`}
        times={charts.times}
        series={charts.hits}
      />
      <Chart
        title={`Bytes per ${per}`}
        summary={`${formatBytes(sum(charts.bytes[0]?.values ?? []))} served, ${formatBytes(sum(charts.bytes[1]?.values ?? []))} fetched upstream`}
        times={charts.times}
        series={charts.bytes}
        bytes
      />
      <Chart
        title="Upstream pull budget"
        summary={
          lastBudget === null
            ? "no upstream reported a budget"
            : `${formatCount(lastBudget)} pulls left at the end of the period`
        }
        times={charts.times}
        series={charts.budget}
      />
    </div>
  );
}

export function OverviewPage(props: { caller: CallerBody }) {
  const [range, setRange] = useState<"day" | "month">("day");
  const repositories = useApi(() => api.repositories(), []);
  const series = useApi(() => api.series(range), [range]);
  const activity = useApi(() => api.activity(15), []);
  const list = repositories.data;
  // A group's images are its members': counted once, where they are held.
  const images = list?.repositories.filter((r) => r.type !== "group").reduce((sum, r) => sum + r.images, 0);
  const store = list?.store ?? null;
  const period = periodTotals(series.data);
  const during = range === "day" ? "in the last day" : "in the last month";
  return (
    <>
      <h1>Overview</h1>
      <Failure error={repositories.error} />
      {list ? (
        <div class="grid">
          <Stat
            label="Store"
            value={store ? formatBytes(store.bytes) : "–"}
            sub={
              store
                ? `${store.cap === null ? "no cap" : `of ${formatBytes(store.cap)}`}${store.freeBytes === null ? "" : ` · ${formatBytes(store.freeBytes)} free on disk`}`
                : "not measured yet"
            }
          >
            {store && store.cap !== null ? (
              <Meter used={store.bytes} cap={store.cap} label="Store size against its cap" />
            ) : null}
          </Stat>
          <Stat
            label="Hit ratio"
            value={formatRatio(period?.hitRatio)}
            sub={
              period
                ? `${formatCount(period.hits)} hits, ${formatCount(period.misses)} misses ${during}`
                : during
            }
          />
          <Stat
            label="Bytes saved"
            value={formatBytes(period?.bytesSaved)}
            sub={
              period
                ? `${formatBytes(period.bytesServed)} served, ${formatBytes(period.bytesFetched)} fetched upstream ${during}`
                : during
            }
          />
          <Stat
            label="Images"
            value={formatCount(images)}
            sub={`in ${list.repositories.length} repositories`}
          />
        </div>
      ) : (
        !repositories.error && <p class="note">Loading…</p>
      )}
      <div class="row">
        <h2>Over time</h2>
        <fieldset class="plain">
          <legend class="offscreen">Period</legend>
          <button type="button" aria-pressed={range === "day"} onClick={() => setRange("day")}>
            Last day
          </button>{" "}
          <button type="button" aria-pressed={range === "month"} onClick={() => setRange("month")}>
            Last month
          </button>
        </fieldset>
      </div>
      <Failure error={series.error} />
      {series.data ? <Charts series={series.data} /> : null}
      <h2>Repositories</h2>
      {list ? (
        <Table
          caption={"Repositories"}
          columns={[
            { label: "Repository" },
            { label: "Type" },
            { label: "Route", narrow: true },
            { label: "Images", num: true },
            { label: "Size", num: true },
            { label: "Hit ratio since start", num: true, narrow: true },
            { label: "Saved since start", num: true, narrow: true },
            { label: "Pull budget", num: true, narrow: true },
          ]}
        >
          {list.repositories.map((repository) => (
            <tr key={repository.name}>
              <td>
                <a href={href.repository(repository.name)}>{repository.name}</a>
                {repository.upstream ? <div class="note">{repository.upstream.registry}</div> : null}
                {repository.type === "group" ? <div class="note">{repository.members.join(", ")}</div> : null}
              </td>
              <td>{repository.type}</td>
              <td class="hide-narrow mono">{routeOf(repository)}</td>
              <td class="num">{formatCount(repository.images)}</td>
              <td class="num">
                {formatBytes(repository.size.bytes)}
                {repository.size.cap !== null ? (
                  <div class="note">of {formatBytes(repository.size.cap)}</div>
                ) : null}
              </td>
              <td class="num hide-narrow">{formatRatio(repository.cache?.hitRatio)}</td>
              <td class="num hide-narrow">{formatBytes(repository.cache?.bytesSaved)}</td>
              <td class="num hide-narrow">{budgetOf(repository)}</td>
            </tr>
          ))}
        </Table>
      ) : null}
      <h2>Recent activity</h2>
      <Failure error={activity.error} />
      {activity.data ? (
        <div class="card">
          <ActivityList events={activity.data.events} />
        </div>
      ) : null}
      {props.caller.admin ? <PruneCard /> : null}
    </>
  );
}

function PruneCard() {
  const [result, setResult] = useState<Awaited<ReturnType<typeof api.prune>> | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  const run = async (dryRun: boolean) => {
    if (!dryRun && !confirm("Evict what the caps and max_unused say must go now?")) return;
    setBusy(true);
    setError(undefined);
    try {
      setResult(await api.prune(dryRun));
    } catch (caught) {
      setError(caught as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <h2>Prune</h2>
      <div class="card">
        <p class="note">Evicts the least recently pulled images of proxy repositories, down to their caps.</p>
        <div class="row">
          <button type="button" disabled={busy} onClick={() => run(true)}>
            What would go?
          </button>
          <button type="button" class="danger" disabled={busy} onClick={() => run(false)}>
            Prune now
          </button>
        </div>
        <Failure error={error} />
        {result ? (
          <>
            <p aria-live="polite">
              {result.dryRun ? "Would evict" : "Evicted"} {result.evictions.length} images, freeing{" "}
              {formatBytes(result.bytes)}.
            </p>
            {result.evictions.length > 0 ? (
              <Table
                caption={"Evictions"}
                columns={[
                  { label: "Image" },
                  { label: "Size", num: true },
                  { label: "Last used", num: true },
                  { label: "Why", narrow: true },
                ]}
              >
                {result.evictions.slice(0, 100).map((e) => (
                  <tr key={`${e.repository}/${e.name}@${e.digest}`}>
                    <td>
                      {e.repository}/{e.name}
                      {e.tags.length > 0 ? `:${e.tags.join(", ")}` : ""}
                    </td>
                    <td class="num">{formatBytes(e.bytes)}</td>
                    <td class="num">{formatAgo(e.lastUsedAt)}</td>
                    <td class="hide-narrow">{e.reason}</td>
                  </tr>
                ))}
              </Table>
            ) : null}
          </>
        ) : null}
      </div>
    </>
  );
}
