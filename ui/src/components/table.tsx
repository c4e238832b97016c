import type { ComponentChildren } from "preact";

/** A column's heading, and how the column's cells align and hide. */
export interface Column {
  readonly label: ComponentChildren;
  /** Numbers: right-aligned. */
  readonly num?: boolean;
  /** Hidden on a narrow screen. */
  readonly narrow?: boolean;
  /** The column the rows are sorted by, and which way. */
  readonly sorted?: "ascending" | "descending";
}

/** The heading of a column of row actions: read out by screen readers, not shown. */
export const ACTIONS: Column = { label: <span class="offscreen">Actions</span> };

/** The class of a column's heading and cells: the styles' `num` and `hide-narrow`. */
export function columnClass(column: Pick<Column, "num" | "narrow">): string | undefined {
  const classes = [column.num ? "num" : "", column.narrow ? "hide-narrow" : ""].filter(Boolean);
  return classes.length > 0 ? classes.join(" ") : undefined;
}

/**
 * A table that scrolls sideways on its own when too wide, with one row of column headings. The
 * caption names it for screen readers where the heading above it does not. A column given as
 * `false` is left out (a column only some users may use).
 */
export function Table(props: {
  caption?: ComponentChildren;
  columns: readonly (Column | false)[];
  children: ComponentChildren;
}) {
  return (
    <div class="table-wrap">
      <table>
        {props.caption ? <caption class="offscreen">{props.caption}</caption> : null}
        <thead>
          <tr>
            {props.columns.map((column, index) =>
              column ? (
                // The columns are fixed per table and never reordered: their place is their key.
                <th key={index} scope="col" class={columnClass(column)} aria-sort={column.sorted}>
                  {column.label}
                </th>
              ) : null,
            )}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

/** A row's destructive action: its verb shown, what it acts on read out as well. */
export function RowAction(props: { verb: string; what: string; onClick: () => void }) {
  return (
    <button type="button" class="danger" onClick={props.onClick}>
      {props.verb} <span class="offscreen">{props.what}</span>
    </button>
  );
}
