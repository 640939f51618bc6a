/** Lineage graph logic: merging fetched neighbourhoods, sides of the root, impact CSV. */
import type { Graph, GraphEdge, GraphNode, Impact, ImpactItem } from "../api/types";

export type Side = "root" | "upstream" | "downstream" | "expanded";

export interface LNode extends GraphNode {
  side: Side;
}

export interface LGraph {
  nodes: LNode[];
  edges: GraphEdge[];
  truncated: boolean;
}

export const EMPTY_GRAPH: LGraph = { nodes: [], edges: [], truncated: false };

export function isRestrictedId(id: string): boolean {
  return id.startsWith("restricted-");
}

/*
 * Restricted placeholders carry an opaque id that the server derives from the hidden node
 * (the same node gets the same id in every response, and nobody can tell which node it is):
 * merging by id keeps one hidden node once, however many fetches reach it.
 */

export const edgeKey = (e: GraphEdge) => `${e.source}->${e.target}`;

/**
 * Merge a fetched graph into another. Nodes already present keep their place (and depth);
 * new ones get `side` and a depth counted from `baseDepth` (the expanded node's depth).
 */
export function mergeGraph(into: LGraph, add: Graph, side: Side, baseDepth = 0): LGraph {
  const byId = new Map(into.nodes.map((n) => [n.id, n]));
  const nodes = [...into.nodes];
  for (const n of add.nodes) {
    if (byId.has(n.id)) continue;
    const node: LNode = { ...n, depth: baseDepth + n.depth, side: n.depth === 0 && side !== "expanded" ? "root" : side };
    byId.set(n.id, node);
    nodes.push(node);
  }
  const seen = new Set(into.edges.map(edgeKey));
  const edges = [...into.edges];
  for (const e of add.edges) {
    const k = edgeKey(e);
    if (seen.has(k) || !byId.has(e.source) || !byId.has(e.target)) continue;
    seen.add(k);
    edges.push(e);
  }
  return { nodes, edges, truncated: into.truncated || add.truncated };
}

/** The start node of a graph response (the only node at depth 0). */
export function rootOf(graph: Pick<Graph, "nodes"> | undefined): GraphNode | undefined {
  return graph?.nodes.find((n) => n.depth === 0);
}

/** Build the view: upstream and downstream fetches around the root, then expansions in order. */
export function buildGraph(
  upstream: Graph | undefined,
  downstream: Graph | undefined,
  expansions: { anchor: string; graph: Graph }[],
): LGraph {
  let g = EMPTY_GRAPH;
  if (upstream) g = mergeGraph(g, upstream, "upstream");
  if (downstream) g = mergeGraph(g, downstream, "downstream");
  for (const { anchor, graph } of expansions) {
    const base = g.nodes.find((n) => n.id === anchor)?.depth ?? 0;
    g = mergeGraph(g, graph, "expanded", base);
  }
  return g;
}

/** Upstream and downstream neighbours of each node (for the list view and tooltips). */
export function neighbours(graph: LGraph): Map<string, { up: string[]; down: string[] }> {
  const out = new Map<string, { up: string[]; down: string[] }>();
  for (const n of graph.nodes) out.set(n.id, { up: [], down: [] });
  for (const e of graph.edges) {
    out.get(e.target)?.up.push(e.source);
    out.get(e.source)?.down.push(e.target);
  }
  return out;
}

/** Where a node opens: a dataset's page or a process's page; a restricted node opens nothing. */
export function nodeHref(
  n: Pick<GraphNode, "id" | "kind" | "restricted">,
  datasetHref: (id: string) => string = (id) => `/datasets/${id}`,
): string | null {
  if (n.restricted || isRestrictedId(n.id)) return null;
  return n.kind === "process" ? `/processes/${encodeURIComponent(n.id)}` : datasetHref(n.id);
}

export function nodeTitle(n: Pick<GraphNode, "kind" | "name" | "restricted">): string {
  if (n.restricted || !n.name) return n.kind === "process" ? "Restricted process" : "Restricted dataset";
  return n.name;
}

/* CSV --------------------------------------------------------------------------------------- */

/** One CSV cell: quoted when needed; a leading = + - @ is defused so spreadsheets do not run it. */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let s = Array.isArray(value) ? value.join("; ") : String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n;]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const IMPACT_COLUMNS = [
  "kind",
  "name",
  "namespace",
  "distance",
  "health",
  "latest_run_state",
  "owners",
  "follower_count",
  "restricted",
] as const;

export function impactCsv(items: ImpactItem[]): string {
  const rows = [IMPACT_COLUMNS.join(",")];
  for (const item of items) {
    const row = IMPACT_COLUMNS.map((c) => {
      if (c === "name") return csvCell(item.restricted ? nodeTitle(item) : item.name);
      if (c === "owners") return csvCell(item.owners ?? []);
      return csvCell(item[c]);
    });
    rows.push(row.join(","));
  }
  return rows.join("\r\n") + "\r\n";
}

export function impactFileName(impact: Pick<Impact, "node">): string {
  const base = (impact.node.name ?? "lineage").replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "");
  return `impact-${base || "lineage"}.csv`;
}

/** Save text as a file in the browser (no server round trip). */
export function downloadText(text: string, fileName: string, type = "text/csv;charset=utf-8"): void {
  // A byte-order mark tells spreadsheet programs the CSV is UTF-8; code files get none.
  const blob = new Blob(type.startsWith("text/csv") ? ["\ufeff", text] : [text], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * What the impact panel says about owners of affected datasets the reader may not see: they are
 * counted by the server, never named. Null when there are none.
 */
export function hiddenOwnersNote(hiddenOwners: number | null | undefined, notifyCount: number): string | null {
  const n = hiddenOwners ?? 0;
  if (n <= 0) return null;
  const who = n === 1 ? "1 owner" : `${n} owners`;
  const lead = notifyCount ? `Also, ${who}` : who;
  return `${lead} of restricted datasets ${n === 1 ? "is" : "are"} hidden from you: ask the owning organization's admins or stewards to pass it on.`;
}

export interface FitPlan {
  /** The whole graph shows at this zoom (false: too big to read whole; centre on a node). */
  fits: boolean;
  zoom: number;
  /** Canvas height: the fitted graph's, so no empty band is left above or below it. */
  height: number;
}

/** Room kept around a fitted graph (px): the zoom buttons sit at the bottom left. */
export const FIT_PADDING = { top: 28, right: 28, bottom: 64, left: 28 } as const;

/**
 * How a laid-out graph of `bounds` opens in a canvas `viewWidth` wide and at most `maxHeight`
 * high: whole, at the largest zoom up to 1 that shows every node, in a canvas no taller than
 * it needs; or, when that zoom would be below `minZoom` (unreadable), at `minZoom`.
 */
export function fitPlan(
  bounds: { width: number; height: number },
  viewWidth: number,
  maxHeight: number,
  { minZoom = 0.35, minHeight = 260, maxZoom = 1 } = {},
): FitPlan {
  const w = Math.max(bounds.width, 1);
  const h = Math.max(bounds.height, 1);
  const byWidth = (viewWidth - FIT_PADDING.left - FIT_PADDING.right) / w;
  const byHeight = (maxHeight - FIT_PADDING.top - FIT_PADDING.bottom) / h;
  const zoom = Math.min(maxZoom, byWidth, byHeight);
  if (!(zoom >= minZoom)) return { fits: false, zoom: minZoom, height: maxHeight };
  const needed = Math.ceil(h * zoom + FIT_PADDING.top + FIT_PADDING.bottom);
  return { fits: true, zoom, height: Math.min(maxHeight, Math.max(minHeight, needed)) };
}

/** The box around laid-out nodes. */
export function boundsOf(boxes: { x: number; y: number; width: number; height: number }[]): {
  width: number;
  height: number;
} {
  if (!boxes.length) return { width: 0, height: 0 };
  const left = Math.min(...boxes.map((b) => b.x));
  const top = Math.min(...boxes.map((b) => b.y));
  const right = Math.max(...boxes.map((b) => b.x + b.width));
  const bottom = Math.max(...boxes.map((b) => b.y + b.height));
  return { width: right - left, height: bottom - top };
}
