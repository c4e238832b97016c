export interface Column {
  readonly header: string;
  /** Numbers read best right-aligned. */
  readonly align?: "left" | "right";
  /** Shown even when every row leaves it empty. */
  readonly always?: boolean;
}

/**
 * Plain-text columns as `docker ps` prints them: a header line, two spaces between columns.
 * A column that no row fills is left out, so a table can name fields an instance may not report.
 */
export function renderTable(columns: readonly Column[], rows: ReadonlyArray<readonly string[]>): string {
  const kept = columns
    .map((column, index) => ({ column, index }))
    .filter(({ column, index }) => column.always || rows.some((row) => (row[index] ?? "") !== ""));
  const widths = kept.map(({ column, index }) =>
    Math.max(column.header.length, ...rows.map((row) => (row[index] ?? "").length)),
  );
  const line = (cells: readonly string[]) =>
    kept
      .map(({ column }, at) => {
        const cell = cells[at] ?? "";
        const width = widths[at] ?? 0;
        return column.align === "right" ? cell.padStart(width) : cell.padEnd(width);
      })
      .join("  ")
      .trimEnd();
  return [
    line(kept.map(({ column }) => column.header)),
    ...rows.map((row) => line(kept.map(({ index }) => row[index] ?? ""))),
  ].join("\n");
}
