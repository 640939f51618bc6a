/**
 * A dataset's columns with where each comes from and what it feeds (column lineage), and the
 * column-level impact of the one selected (its path is lit on the canvas above).
 */
import { useState } from "react";
import { Link } from "react-router";
import type { UseQueryResult } from "@tanstack/react-query";
import {
  byDistance,
  columnRefText,
  fieldText,
  type ColumnImpact,
  type ColumnRef,
  type ColumnRow,
} from "../../lib/columns";
import { isRestrictedId } from "../../lib/lineage";
import { LockIcon, LineageIcon } from "../icons";
import { Badge, Button, EmptyState, ErrorAlert, Skeleton, TableSkeleton } from "../ui";
import "./lineage.css";

const fmt = (n: number) => n.toLocaleString("en-US");

/** Column ends listed before "+N more" (a hub column can feed hundreds). */
const REFS_SHOWN = 6;

function Refs({ refs, hrefFor }: { refs: ColumnRef[]; hrefFor: (id: string) => string }) {
  const [all, setAll] = useState(false);
  if (!refs.length) return <span className="subtle">—</span>;
  const shown = all || refs.length <= REFS_SHOWN + 1 ? refs : refs.slice(0, REFS_SHOWN);
  return (
    <ul className="column-refs">
      {shown.map((r, i) => (
        <li key={`${r.datasetId}:${r.field ?? ""}:${i}`}>
          {r.restricted || isRestrictedId(r.datasetId) ? (
            <span className="subtle">
              <LockIcon aria-hidden="true" style={{ width: 12, height: 12, verticalAlign: -1 }} /> Restricted column
            </span>
          ) : (
            <Link to={hrefFor(r.datasetId)} className="mono">
              {columnRefText(r)}
            </Link>
          )}
          {r.transformation ? <span className="column-ref__t">{r.transformation}</span> : null}
        </li>
      ))}
      {shown.length < refs.length ? (
        <li>
          <button type="button" className="link-button" onClick={() => setAll(true)}>
            +{fmt(refs.length - shown.length)} more
          </button>
        </li>
      ) : null}
    </ul>
  );
}

export function ColumnImpactView({
  field,
  query,
  hrefFor,
}: {
  field: string;
  query: UseQueryResult<ColumnImpact>;
  hrefFor: (id: string) => string;
}) {
  return (
    <div className="column-impact" data-testid="column-impact" aria-live="polite">
      <h3 className="impact-section">
        Column impact of <span className="mono">{fieldText(field)}</span>
      </h3>
      {query.isPending ? (
        <div role="status" aria-busy="true" style={{ display: "grid", gap: 8 }}>
          <span className="sr-only">Following the column…</span>
          <Skeleton width="50%" />
          <Skeleton width="70%" />
        </div>
      ) : query.isError ? (
        <ErrorAlert error={query.error} onRetry={() => query.refetch()} retrying={query.isFetching} />
      ) : (
        <>
          <div className="impact-totals" style={{ padding: 0, border: 0 }} data-testid="column-impact-totals">
            <div>
              <strong>{fmt(query.data.totals.columns)}</strong> {query.data.totals.columns === 1 ? "column" : "columns"}
            </div>
            <div>
              <strong>{fmt(query.data.totals.datasets)}</strong> {query.data.totals.datasets === 1 ? "dataset" : "datasets"}
            </div>
            {query.data.totals.restricted ? (
              <div>
                <strong>{fmt(query.data.totals.restricted)}</strong> restricted
              </div>
            ) : null}
          </div>
          {query.data.items.length ? (
            <ol className="column-impact__groups" aria-label="Columns reached, by distance">
              {byDistance(query.data.items).map((g) => (
                <li key={g.distance}>
                  <Badge tone="neutral">
                    {g.distance} {g.distance === 1 ? "hop" : "hops"}
                  </Badge>
                  <ul>
                    {g.items.map((it, i) => (
                      <li key={`${it.dataset_id}:${it.field ?? ""}:${i}`} data-testid="column-impact-item">
                        {it.restricted || isRestrictedId(it.dataset_id) ? (
                          <span className="subtle">
                            <LockIcon aria-hidden="true" style={{ width: 12, height: 12, verticalAlign: -1 }} /> Restricted
                            column
                          </span>
                        ) : (
                          <Link className="mono" to={hrefFor(it.dataset_id)}>
                            {it.name} · {fieldText(it.field)}
                          </Link>
                        )}
                      </li>
                    ))}
                  </ul>
                </li>
              ))}
            </ol>
          ) : (
            <p className="subtle" style={{ margin: "8px 0 0" }}>
              No other column is computed from it.
            </p>
          )}
        </>
      )}
    </div>
  );
}

export function ColumnsPanel({
  rows,
  query,
  selected,
  onSelect,
  impact,
  hrefFor,
}: {
  rows: ColumnRow[];
  query: Pick<UseQueryResult<unknown>, "isPending" | "isError" | "error" | "refetch" | "isFetching">;
  selected: string | null;
  onSelect: (field: string | null) => void;
  impact: UseQueryResult<ColumnImpact>;
  hrefFor: (id: string) => string;
}) {
  const withLineage = rows.filter((r) => r.from.length || r.feeds.length).length;
  return (
    <section className="card" aria-labelledby="columns-heading" data-testid="columns-panel">
      <div className="card__header">
        <div>
          <h2 className="card__title" id="columns-heading">
            Columns <span className="subtle">({rows.length})</span>
          </h2>
          <p className="card__subtitle">
            Where each column comes from and what it feeds
            {rows.length ? ` (${withLineage} with column lineage)` : ""}. Select one to light up its path on the graph.
          </p>
        </div>
        {selected !== null ? (
          <Button size="sm" variant="ghost" onClick={() => onSelect(null)}>
            Clear selection
          </Button>
        ) : null}
      </div>
      {query.isPending ? (
        <TableSkeleton rows={4} columns={3} label="Loading the columns" />
      ) : query.isError ? (
        <div className="card__body">
          <ErrorAlert error={query.error} onRetry={() => query.refetch()} retrying={query.isFetching} />
        </div>
      ) : !rows.length ? (
        <EmptyState icon={<LineageIcon />} title="No columns known">
          Columns come from the schema of the dataset and from the column lineage of OpenLineage events.
        </EmptyState>
      ) : (
        <>
          <div className="table-wrap">
            <table className="table columns-table">
              <caption className="sr-only">Columns with their column lineage</caption>
              <thead>
                <tr>
                  <th scope="col">Column</th>
                  <th scope="col">Comes from</th>
                  <th scope="col">Feeds</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => {
                  const on = selected === r.field;
                  return (
                    <tr key={r.field} className={on ? "is-selected" : undefined} data-testid="column-row">
                      <td>
                        {r.field ? (
                          <button
                            type="button"
                            className="column-pick"
                            aria-pressed={on}
                            title={on ? "Selected: its path is lit on the graph" : "Show its path and column impact"}
                            onClick={() => onSelect(on ? null : r.field)}
                          >
                            {r.field}
                          </button>
                        ) : (
                          <span className="subtle" style={{ paddingLeft: 8 }}>
                            {fieldText(r.field)}
                          </span>
                        )}
                        {r.type ? <div className="mono muted" style={{ paddingLeft: 8, fontSize: 12 }}>{r.type}</div> : null}
                      </td>
                      <td>
                        <Refs refs={r.from} hrefFor={hrefFor} />
                      </td>
                      <td>
                        <Refs refs={r.feeds} hrefFor={hrefFor} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          {selected ? <ColumnImpactView field={selected} query={impact} hrefFor={hrefFor} /> : null}
        </>
      )}
    </section>
  );
}
