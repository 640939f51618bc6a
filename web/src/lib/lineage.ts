/** Lineage graph logic: merging fetched neighbourhoods, sides of the root, "+N more" counts. */
import type { Graph, GraphEdge, GraphNode } from "../api/types";

export type Side = "root" | "upstream" | "downstream" | "expanded";

/**
 * What the graph endpoint says it did not draw: per frontier node, how many nodes lie beyond it
 * on each side (`Graph.more` per direction, exact when `Graph.more_exact`).
 */
export type MoreCounts = Pick<GraphNode, "more_upstream" | "more_downstream">;

export type MoreDirection = "upstream" | "downstream";

export type LNode = GraphNode & { side: Side };

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
    const known = byId.get(n.id);
    if (known) {
      // Each response counts what lies beyond relative to what it drew, a subset of the canvas:
      // both are upper bounds, so the smaller one is the truer.
      const merged = { ...known, ...fewerMore(known, n) };
      if (merged.more_upstream !== known.more_upstream || merged.more_downstream !== known.more_downstream) {
        nodes[nodes.indexOf(known)] = merged;
        byId.set(n.id, merged);
      }
      continue;
    }
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

function minCount(a: number | undefined, b: number | undefined): number | undefined {
  if (a == null) return b;
  if (b == null) return a;
  return Math.min(a, b);
}

function fewerMore(a: MoreCounts, b: MoreCounts): MoreCounts {
  return {
    more_upstream: minCount(a.more_upstream, b.more_upstream),
    more_downstream: minCount(a.more_downstream, b.more_downstream),
  };
}

/** Nodes beyond `n` on one side that the canvas does not draw (0 when none or not told). */
export function moreOf(n: MoreCounts, direction: MoreDirection): number {
  const v = direction === "upstream" ? n.more_upstream : n.more_downstream;
  return v && v > 0 ? v : 0;
}

/** "+1,204 more" (or "+1,204+ more" when the server only knows a lower bound). */
export function moreLabel(count: number, exact = true): string {
  return `+${count.toLocaleString("en-US")}${exact ? "" : "+"} more`;
}

/**
 * What the graph response says lies beyond the drawn depth, per direction (`Graph.more`), and
 * whether those counts are exact (`Graph.more_exact`).
 */
export function graphMore(g: Graph | undefined): { upstream: number; downstream: number; exact: boolean } {
  return {
    upstream: g?.more?.upstream ?? 0,
    downstream: g?.more?.downstream ?? 0,
    // Without counts there is nothing to qualify; with them, exact only when the server says so.
    exact: g?.more ? !!g.more_exact : true,
  };
}

/** The start node of a graph response (the only node at depth 0). */
export function rootOf(graph: Pick<Graph, "nodes"> | undefined): GraphNode | undefined {
  return graph?.nodes.find((n) => n.depth === 0);
}

/** Build the view: upstream and downstream fetches around the root, then expansions in order. */
export interface Expansion {
  anchor: string;
  graph: Graph;
  /** The side fetched ("+N more" on one side); both when absent (the expand button). */
  direction?: MoreDirection | "both";
}

export function buildGraph(
  upstream: Graph | undefined,
  downstream: Graph | undefined,
  expansions: Expansion[],
): LGraph {
  let g = EMPTY_GRAPH;
  if (upstream) g = mergeGraph(g, upstream, "upstream");
  if (downstream) g = mergeGraph(g, downstream, "downstream");
  for (const { anchor, graph, direction = "both" } of expansions) {
    const base = g.nodes.find((n) => n.id === anchor)?.depth ?? 0;
    g = mergeGraph(g, graph, "expanded", base);
    // The anchor's neighbours on the fetched side are drawn now: nothing more lies just beyond it.
    g = {
      ...g,
      nodes: g.nodes.map((n) =>
        n.id !== anchor
          ? n
          : {
              ...n,
              ...(direction !== "downstream" ? { more_upstream: 0 } : {}),
              ...(direction !== "upstream" ? { more_downstream: 0 } : {}),
            },
      ),
    };
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

/* Files ---------------------------------------------------------------------------------- */

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
