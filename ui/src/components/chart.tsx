import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  readonly label: string;
  /** A CSS custom property of styles.css naming the colour, e.g. `--chart-1`. */
  readonly color: string;
  readonly values: ReadonlyArray<number | null>;
  readonly format?: (value: number) => string;
}

/** Axis steps in whole binary units (1, 2, 5, 10… KiB, MiB, GiB), so byte ticks read as round numbers. */
const BYTE_STEPS = [1, 1024, 1024 ** 2, 1024 ** 3, 1024 ** 4]
  .flatMap((unit) => [1, 2, 5, 10, 20, 50, 100, 200, 500].map((m) => m * unit))
  .sort((a, b) => a - b);

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

/**
 * A time-series chart (uPlot: a canvas, fast with thousands of points). The chart is an image to
 * assistive technology; `summary` says in words what it shows.
 */
export function Chart(props: {
  title: string;
  summary: string;
  times: readonly number[];
  series: readonly ChartSeries[];
  height?: number;
  /** The values are bytes: ticks in whole binary units. */
  bytes?: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const axis = {
      stroke: cssVar("--muted"),
      grid: { stroke: cssVar("--grid"), width: 1 },
      ticks: { show: false },
    };
    const format = props.series[0]?.format;
    const options: uPlot.Options = {
      width: Math.max(200, element.clientWidth),
      height: props.height ?? 180,
      legend: { show: true },
      cursor: { y: false },
      scales: { x: { time: true } },
      axes: [
        axis,
        {
          ...axis,
          size: 70,
          ...(format ? { values: (_u: uPlot, ticks: number[]) => ticks.map(format) } : {}),
          ...(props.bytes ? { incrs: BYTE_STEPS } : {}),
        },
      ],
      series: [
        {},
        ...props.series.map((s) => ({
          label: s.label,
          stroke: cssVar(s.color),
          fill: `${cssVar(s.color)}22`,
          width: 1.5,
          points: { show: false },
          ...(s.format
            ? {
                value: (_u: uPlot, v: number | null) =>
                  v === null ? "–" : (s.format as (n: number) => string)(v),
              }
            : {}),
        })),
      ],
    };
    const data = [
      props.times.map((t) => t / 1000),
      ...props.series.map((s) => [...s.values]),
    ] as uPlot.AlignedData;
    const plot = new uPlot(options, data, element);
    const resize = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(200, element.clientWidth), height: options.height }),
    );
    resize.observe(element);
    const scheme = matchMedia("(prefers-color-scheme: dark)");
    const redraw = () => plot.redraw();
    scheme.addEventListener("change", redraw);
    return () => {
      resize.disconnect();
      scheme.removeEventListener("change", redraw);
      plot.destroy();
    };
  }, [props.times, props.series, props.height, props.bytes]);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} role="img" aria-label={`${props.title}: ${props.summary}`} />
    </figure>
  );
}
