/** Lineage around one node: depth controls, the canvas (lazy), a list view, and impact. */
import { useMutation, useQuery } from "@tanstack/react-query";
import { Suspense, lazy, useId, useMemo, useState, type ReactNode } from "react";
import { Link } from "react-router";
import { lineageApi } from "../../api/endpoints";
import { isApiError } from "../../api/errors";

import { healthLabel } from "../../lib/feed";
import { highlightOnGraph, type ColumnHighlight } from "../../lib/columns";
import {
  buildGraph,
  graphMore,
  moreLabel,
  neighbours,
  nodeHref,
  nodeTitle,
  rootOf,
  type Expansion,
  type LGraph,
  type LNode,
  type MoreDirection,
} from "../../lib/lineage";
import { useToast } from "../toasts";
import { CheckCircleIcon, CogIcon, HelpCircleIcon, LineageIcon, LockIcon, RefreshIcon, XCircleIcon } from "../icons";
import { Alert, Button, EmptyState, ErrorAlert, Skeleton } from "../ui";
import { ImpactPanel } from "./ImpactPanel";

const LineageGraph = lazy(() => import("./LineageGraph"));

export const DEPTH_OPTIONS = [0, 1, 2, 3, 4, 5, 10];

function DepthSelect({
  label,
  value,
  onChange,
}: {
  label: string;
  value: number;
  onChange: (v: number) => void;
}) {
  const id = useId();
  return (
    <div className="depth-select">
      <label htmlFor={id}>{label}</label>
      <select id={id} className="select select--sm" value={value} onChange={(e) => onChange(Number(e.target.value))}>
        {DEPTH_OPTIONS.map((d) => (
          <option key={d} value={d}>
            {d === 0 ? "None" : `${d} ${d === 1 ? "level" : "levels"}`}
          </option>
        ))}
      </select>
    </div>
  );
}

function Legend() {
  return (
    <ul className="lineage-legend" aria-label="Legend">
      <li>
        <span className="legend-swatch legend-swatch--dataset" aria-hidden="true" /> Dataset
      </li>
      <li>
        <span className="legend-swatch legend-swatch--process" aria-hidden="true">
          <CogIcon />
        </span>{" "}
        Process (job)
      </li>
      <li>
        <span className="legend-swatch legend-swatch--restricted" aria-hidden="true">
          <LockIcon />
        </span>{" "}
        Restricted
      </li>
      <li className="legend-health legend-health--ok">
        <CheckCircleIcon aria-hidden="true" /> OK
      </li>
      <li className="legend-health legend-health--error">
        <XCircleIcon aria-hidden="true" /> Error
      </li>
      <li className="legend-health legend-health--unknown">
        <HelpCircleIcon aria-hidden="true" /> Unknown
      </li>
    </ul>
  );
}

function sideText(n: LNode): string {
  if (n.side === "root") return "Start";
  if (n.side === "upstream") return `Upstream ${n.depth}`;
  if (n.side === "downstream") return `Downstream ${n.depth}`;
  return `Expanded, ${n.depth}`;
}

/** The same graph as a table: every node with its neighbours (for keyboards and screen readers). */
function GraphList({ graph, hrefFor }: { graph: LGraph; hrefFor: (n: LNode) => string | null }) {
  const nb = useMemo(() => neighbours(graph), [graph]);
  const byId = useMemo(() => new Map(graph.nodes.map((n) => [n.id, n])), [graph]);
  const names = (ids: string[]) => ids.map((i) => (byId.get(i) ? nodeTitle(byId.get(i)!) : i)).join(", ") || "—";
  return (
    <details className="lineage-list">
      <summary>Show the graph as a list</summary>
      <div className="table-wrap">
        <table className="table">
          <caption className="sr-only">Nodes of the lineage graph</caption>
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Kind</th>
              <th scope="col">Position</th>
              <th scope="col">Health</th>
              <th scope="col">Reads from</th>
              <th scope="col">Feeds</th>
            </tr>
          </thead>
          <tbody>
            {graph.nodes.map((n) => (
              <tr key={n.id}>
                <td className="cell-primary">
                  {hrefFor(n) ? <Link to={hrefFor(n) ?? ""}>{nodeTitle(n)}</Link> : nodeTitle(n)}
                </td>
                <td>{n.kind === "process" ? "Process" : "Dataset"}</td>
                <td>{sideText(n)}</td>
                <td>{n.restricted ? "—" : n.health ? healthLabel(n.health) : "—"}</td>
                <td className="muted">{names(nb.get(n.id)?.up ?? [])}</td>
                <td className="muted">{names(nb.get(n.id)?.down ?? [])}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

export function CanvasSkeleton({ height }: { height: number | string }) {
  return (
    <div className="lineage-canvas lineage-canvas--loading" style={{ height }} role="status" aria-busy="true">
      <span className="sr-only">Loading the lineage graph…</span>
      <div className="lineage-canvas__ghost" aria-hidden="true">
        <Skeleton width={180} height={56} />
        <Skeleton width={140} height={40} />
        <Skeleton width={180} height={56} />
      </div>
    </div>
  );
}

export function LineageExplorer({
  nodeRef,
  up,
  down,
  onDepthChange,
  datasetHref,
  height = 560,
  showImpact = true,
  columnPath = null,
  columnLabel = "",
  afterCanvas = null,
  toolbarExtra = null,
}: {
  nodeRef: string;
  up: number;
  down: number;
  onDepthChange: (next: { up: number; down: number }) => void;
  /** Where a dataset opens (by id). */
  datasetHref: (id: string) => string;
  height?: number | string;
  showImpact?: boolean;
  /** A column's path to light up on the canvas (see lib/columns.ts). */
  columnPath?: ColumnHighlight | null;
  columnLabel?: string;
  /** Shown between the canvas and the impact panel (a dataset's Columns list). */
  afterCanvas?: ReactNode;
  /** More controls in the canvas's toolbar (a dataset's column picker). */
  toolbarExtra?: ReactNode;
}) {
  const toast = useToast();
  const upstream = useQuery({
    queryKey: ["lineage", "graph", nodeRef, "upstream", up],
    queryFn: ({ signal }) => lineageApi.graph({ node: nodeRef, direction: "upstream", depth: up }, signal),
  });
  const downstream = useQuery({
    queryKey: ["lineage", "graph", nodeRef, "downstream", down],
    queryFn: ({ signal }) => lineageApi.graph({ node: nodeRef, direction: "downstream", depth: down }, signal),
  });

  // Expansions belong to one starting node.
  const [expansions, setExpansions] = useState<Expansion[]>([]);
  const [seenRef, setSeenRef] = useState(nodeRef);
  if (seenRef !== nodeRef) {
    setSeenRef(nodeRef);
    setExpansions([]);
  }
  // The view centres on a node just expanded; other changes (depth) centre on the start again.
  const [focus, setFocus] = useState<string | null>(null);
  const depthKey = `${nodeRef}|${up}|${down}`;
  const [seenDepth, setSeenDepth] = useState(depthKey);
  if (seenDepth !== depthKey) {
    setSeenDepth(depthKey);
    setFocus(null);
  }

  const graph = useMemo(
    () => buildGraph(upstream.data, downstream.data, expansions),
    [upstream.data, downstream.data, expansions],
  );

  const expand = useMutation({
    mutationFn: (n: LNode) => lineageApi.graph({ node: n.id, direction: "both", depth: 1 }),
    onSuccess: (fetched, n) => {
      const known = new Set(graph.nodes.map((x) => x.id));
      const added = fetched.nodes.filter((x) => !known.has(x.id)).length;
      setExpansions((xs) => [...xs, { anchor: n.id, graph: fetched }]);
      setFocus(n.id);
      toast.info(
        `Expanded ${nodeTitle(n)}`,
        added ? `${added} more ${added === 1 ? "node" : "nodes"} around it.` : "Everything around it was already shown.",
      );
    },
    onError: (err) => toast.fromError(err, "Could not expand the node"),
  });

  // "+N more" on a frontier node: draw the next level on that side.
  const more = useMutation({
    mutationFn: ({ n, direction }: { n: LNode; direction: MoreDirection }) =>
      lineageApi.graph({ node: n.id, direction, depth: 1 }),
    onSuccess: (fetched, { n, direction }) => {
      const known = new Set(graph.nodes.map((x) => x.id));
      const added = fetched.nodes.filter((x) => !known.has(x.id)).length;
      setExpansions((xs) => [...xs, { anchor: n.id, graph: fetched, direction }]);
      setFocus(n.id);
      toast.info(
        `${direction === "upstream" ? "Upstream" : "Downstream"} of ${nodeTitle(n)}`,
        added ? `${added} more ${added === 1 ? "node" : "nodes"} drawn.` : "Everything there was already shown.",
      );
    },
    onError: (err) => toast.fromError(err, "Could not load more of the graph"),
  });
  const beyond = {
    upstream: graphMore(upstream.data).upstream,
    downstream: graphMore(downstream.data).downstream,
    exact: graphMore(upstream.data).exact && graphMore(downstream.data).exact,
  };
  const lit = useMemo(() => {
    if (!columnPath) return null;
    const on = highlightOnGraph(graph, columnPath);
    return { ...on, fields: columnPath.fields, label: columnLabel };
  }, [graph, columnPath, columnLabel]);

  const root = rootOf(upstream.data ?? downstream.data);
  const expanded = useMemo(() => new Set(expansions.map((x) => x.anchor)), [expansions]);
  const hrefFor = (n: LNode) => nodeHref(n, datasetHref);
  const rootRef = root?.id ?? nodeRef;

  const error = upstream.error ?? downstream.error;
  if (error && !upstream.data && !downstream.data) {
    if (isApiError(error) && (error.status === 404 || error.status === 422)) {
      return (
        <div className="card">
          <EmptyState icon={<LineageIcon />} title="Not in the lineage">
            Nothing by that reference is in the lineage graph, or you cannot see it.
          </EmptyState>
        </div>
      );
    }
    return (
      <ErrorAlert
        error={error}
        onRetry={() => {
          void upstream.refetch();
          void downstream.refetch();
        }}
      />
    );
  }

  const loading = upstream.isPending || downstream.isPending;
  const lonely = !loading && graph.edges.length === 0 && up + down > 0;
  const fetching = upstream.isFetching || downstream.isFetching;

  return (
    <div className="stack lineage-explorer">
      <section className="card" aria-label="Lineage graph">
        <div className="lineage-toolbar">
          <DepthSelect label="Upstream" value={up} onChange={(v) => onDepthChange({ up: v, down })} />
          <DepthSelect label="Downstream" value={down} onChange={(v) => onDepthChange({ up, down: v })} />
          {toolbarExtra}
          {expansions.length ? (
            <Button
              size="sm"
              variant="ghost"
              onClick={() => {
                setExpansions([]);
                setFocus(null);
              }}
            >
              <RefreshIcon /> Reset expansions
            </Button>
          ) : null}
          <span className="lineage-toolbar__count" aria-live="polite" data-testid="lineage-count">
            {loading ? "Loading…" : `${graph.nodes.length} ${graph.nodes.length === 1 ? "node" : "nodes"} · ${graph.edges.length} ${graph.edges.length === 1 ? "link" : "links"}`}
            {fetching && !loading ? <span className="spinner" aria-hidden="true" /> : null}
          </span>
          {!loading && (beyond.upstream || beyond.downstream) ? (
            <span
              className="lineage-toolbar__more"
              data-testid="lineage-more"
              title={
                beyond.exact
                  ? "Nodes beyond the depth drawn: use +N more on a node to draw them"
                  : "At least this many beyond the depth drawn (direct neighbours of the drawing)"
              }
            >
              {[
                beyond.upstream ? `${moreLabel(beyond.upstream, beyond.exact)} upstream` : null,
                beyond.downstream ? `${moreLabel(beyond.downstream, beyond.exact)} downstream` : null,
              ]
                .filter(Boolean)
                .join(" · ")}
            </span>
          ) : null}
        </div>
        {graph.truncated ? (
          <div className="lineage-notice">
            <Alert tone="warning" title="Graph cut short">
              There is more lineage than the server returns at once. Lower the depth, or expand the nodes you
              care about.
            </Alert>
          </div>
        ) : null}
        {loading ? (
          <CanvasSkeleton height={height} />
        ) : lonely ? (
          <EmptyState icon={<LineageIcon />} title="No lineage yet">
            {root ? `${nodeTitle(root)} has no recorded sources or consumers. ` : ""}
            Lineage arrives from OpenLineage events (Airflow, Spark, dbt…) sent to <code>/api/v1/lineage</code>, or is
            declared through the API.
          </EmptyState>
        ) : (
          <Suspense fallback={<CanvasSkeleton height={height} />}>
            <LineageGraph
              graph={graph}
              rootId={root?.id}
              expanded={expanded}
              expanding={expand.isPending ? (expand.variables?.id ?? null) : null}
              onExpand={(n) => expand.mutate(n)}
              onMore={(n, direction) => more.mutate({ n, direction })}
              loadingMore={more.isPending && more.variables ? { id: more.variables.n.id, direction: more.variables.direction } : null}
              moreExact={beyond.exact}
              highlight={lit}
              hrefFor={hrefFor}
              focusId={focus}
              height={height}
            />
          </Suspense>
        )}
        {!loading && !lonely ? (
          <div className="lineage-foot">
            <Legend />
            <span className="subtle lineage-foot__hint">
              Click a node to open it · double-click or <span aria-hidden="true">⊕</span> to expand · “+N more” draws
              what lies beyond · scroll to zoom
            </span>
          </div>
        ) : null}
        {!loading && !lonely ? <GraphList graph={graph} hrefFor={hrefFor} /> : null}
      </section>
      {afterCanvas}
      {showImpact && !loading && !lonely ? <ImpactPanel nodeRef={rootRef} hrefFor={datasetHref} /> : null}
    </div>
  );
}
