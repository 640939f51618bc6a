/**
 * A dataset's Lineage tab: the canvas, its Columns (column lineage) and impact. Selecting a
 * column (kept in the URL as `?column=`) lights up its path on the canvas and shows its
 * column-level impact.
 */
import { useQuery } from "@tanstack/react-query";
import { useId, useMemo, useState } from "react";
import { useSearchParams } from "react-router";
import { lineageApi } from "../../api/endpoints";
import type { Dataset } from "../../api/types";
import { columnHighlight, columnRows, fieldText } from "../../lib/columns";
import { ColumnsPanel } from "./ColumnsPanel";
import { LineageExplorer } from "./LineageExplorer";

/** Column hops followed for a column's impact (the server's maximum is larger). */
export const COLUMN_DEPTH = 20;

export function DatasetLineage({ ds }: { ds: Pick<Dataset, "id" | "name" | "fields"> }) {
  const [depth, setDepth] = useState({ up: 2, down: 2 });
  const [params, setParams] = useSearchParams();
  const selected = params.get("column");
  const select = (field: string | null) =>
    setParams(
      (p) => {
        if (field) p.set("column", field);
        else p.delete("column");
        return p;
      },
      { replace: true },
    );
  const href = (other: string) => `/datasets/${other}?tab=lineage`;

  const columns = useQuery({
    queryKey: ["lineage", "columns", ds.id],
    queryFn: ({ signal }) => lineageApi.columns(ds.id, "both", signal),
  });
  const impact = useQuery({
    queryKey: ["lineage", "column-impact", ds.id, selected, COLUMN_DEPTH],
    queryFn: ({ signal }) => lineageApi.columnImpact({ dataset: ds.id, field: selected ?? "", depth: COLUMN_DEPTH }, signal),
    enabled: !!selected,
  });
  const rows = useMemo(() => columnRows(ds.id, ds.fields, columns.data ?? []), [ds.id, ds.fields, columns.data]);
  const path = useMemo(
    () => (selected ? columnHighlight({ datasetId: ds.id, field: selected }, columns.data ?? [], impact.data) : null),
    [selected, ds.id, columns.data, impact.data],
  );
  // Columns with lineage either way can be traced from the canvas's toolbar too.
  const withLineage = rows.filter((r) => r.field && (r.from.length || r.feeds.length)).map((r) => r.field);
  const traceable = selected && !withLineage.includes(selected) ? [...withLineage, selected] : withLineage;
  const pickId = useId();

  return (
    <LineageExplorer
      nodeRef={ds.id}
      up={depth.up}
      down={depth.down}
      onDepthChange={setDepth}
      datasetHref={href}
      height={480}
      columnPath={path}
      columnLabel={selected ? `${ds.name} · ${fieldText(selected)}` : ""}
      toolbarExtra={
        traceable.length ? (
          <div className="depth-select">
            <label htmlFor={pickId}>Column path</label>
            <select
              id={pickId}
              className="select select--sm"
              value={selected ?? ""}
              onChange={(e) => select(e.target.value || null)}
            >
              <option value="">None</option>
              {traceable.map((f) => (
                <option key={f} value={f}>
                  {f}
                </option>
              ))}
            </select>
          </div>
        ) : null
      }
      afterCanvas={
        <ColumnsPanel
          rows={rows}
          query={columns}
          selected={selected}
          onSelect={select}
          impact={impact}
          hrefFor={href}
        />
      }
    />
  );
}
