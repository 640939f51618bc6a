/**
 * The dashboard document: exactly the API's `layout` shape, and every edit the canvas makes to it
 * as a pure function. The editor keeps this document (not React Flow's node list) as its state,
 * so what is saved is what was loaded plus the user's edits, nothing else.
 *
 * Positions follow React Flow: a node inside a group (`parent`) is placed relative to the group's
 * top-left corner; every other position is on the canvas.
 */
import type { Graph } from "../api/types";
import { buildGraph } from "./lineage";

export type EntityKind = "dataset" | "process";
export type NodeKind = EntityKind | "note";

export interface XY {
  x: number;
  y: number;
}
export interface Size {
  width: number;
  height: number;
}
export interface Annotations {
  owner?: string;
  sla?: string;
  note?: string;
}
export interface LayoutNode {
  id: string;
  kind: NodeKind;
  /** The dataset or process (UUID) a dataset/process node shows. */
  ref?: string;
  /** The text of a note. */
  text?: string;
  position: XY;
  size?: Size;
  /** The group it sits in. */
  parent?: string;
  annotations?: Annotations;
}
export interface LayoutEdge {
  id: string;
  source: string;
  target: string;
  label?: string;
}
export interface LayoutGroup {
  id: string;
  label: string;
  position: XY;
  size: Size;
}
export interface Viewport {
  x: number;
  y: number;
  zoom: number;
}
export interface DashboardLayout {
  nodes: LayoutNode[];
  edges: LayoutEdge[];
  groups: LayoutGroup[];
  viewport: Viewport;
}

/** What a reader knows about a node's dataset or process (the API's `entities`). */
export interface EntityInfo {
  id: string;
  kind: EntityKind;
  name?: string | null;
  namespace?: string | null;
  platform?: string | null;
  restricted?: boolean;
}

export const EMPTY_LAYOUT: DashboardLayout = { nodes: [], edges: [], groups: [], viewport: { x: 0, y: 0, zoom: 1 } };

/** The server's bounds (checked here first so a save does not fail on them). */
export const LIMITS = {
  nodes: 2000,
  edges: 5000,
  groups: 500,
  text: 10_000,
  label: 200,
  edgeLabel: 500,
  owner: 200,
  sla: 200,
  id: 200,
} as const;

export const GRID = 20;
export const NOTE_SIZE: Size = { width: 220, height: 100 };
export const GROUP_SIZE: Size = { width: 420, height: 260 };

/* Canonical form ------------------------------------------------------------------------------- */

function num(v: unknown, fallback = 0): number {
  return typeof v === "number" && Number.isFinite(v) ? v : fallback;
}

function xy(v: unknown): XY {
  const o = (v ?? {}) as Partial<XY>;
  return { x: num(o.x), y: num(o.y) };
}

function size(v: unknown): Size | undefined {
  if (!v || typeof v !== "object") return undefined;
  const o = v as Partial<Size>;
  return { width: num(o.width), height: num(o.height) };
}

function text(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** Annotations without blank entries (kept as written otherwise); undefined when nothing is left. */
export function cleanAnnotations(a: Annotations | null | undefined): Annotations | undefined {
  if (!a) return undefined;
  const out: Annotations = {};
  for (const key of ["owner", "sla", "note"] as const) {
    const v = a[key];
    if (typeof v === "string" && v.trim()) out[key] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

/**
 * The one shape sent to and compared with the API: fixed key order, no null or undefined keys,
 * no blank annotations. Reading an API layout through it and writing it back changes nothing.
 */
export function canonicalLayout(raw: unknown): DashboardLayout {
  const l = (raw ?? {}) as Partial<Record<keyof DashboardLayout, unknown>>;
  const nodes = (Array.isArray(l.nodes) ? l.nodes : []).map((rawNode): LayoutNode => {
    const n = rawNode as Record<string, unknown>;
    const node: LayoutNode = { id: String(n.id), kind: n.kind as NodeKind, position: xy(n.position) };
    const ref = text(n.ref);
    if (ref) node.ref = ref;
    const t = text(n.text);
    if (t !== undefined) node.text = t;
    const s = size(n.size);
    if (s) node.size = s;
    const parent = text(n.parent);
    if (parent) node.parent = parent;
    const ann = cleanAnnotations(n.annotations as Annotations | undefined);
    if (ann) node.annotations = ann;
    // Key order: id, kind, ref, text, position, size, parent, annotations.
    return {
      id: node.id,
      kind: node.kind,
      ...(node.ref ? { ref: node.ref } : {}),
      ...(node.text !== undefined ? { text: node.text } : {}),
      position: node.position,
      ...(node.size ? { size: node.size } : {}),
      ...(node.parent ? { parent: node.parent } : {}),
      ...(node.annotations ? { annotations: node.annotations } : {}),
    };
  });
  const edges = (Array.isArray(l.edges) ? l.edges : []).map((rawEdge): LayoutEdge => {
    const e = rawEdge as Record<string, unknown>;
    const label = text(e.label);
    return {
      id: String(e.id),
      source: String(e.source),
      target: String(e.target),
      ...(label ? { label } : {}),
    };
  });
  const groups = (Array.isArray(l.groups) ? l.groups : []).map((rawGroup): LayoutGroup => {
    const g = rawGroup as Record<string, unknown>;
    return { id: String(g.id), label: text(g.label) ?? "", position: xy(g.position), size: size(g.size) ?? GROUP_SIZE };
  });
  const v = (l.viewport ?? {}) as Partial<Viewport>;
  return { nodes, edges, groups, viewport: { x: num(v.x), y: num(v.y), zoom: num(v.zoom, 1) || 1 } };
}

/** Same content, whatever the key order (the viewport is left out: panning is not an edit). */
export function sameContent(a: DashboardLayout, b: DashboardLayout): boolean {
  const strip = (l: DashboardLayout) => {
    const c = canonicalLayout(l);
    return JSON.stringify({ nodes: c.nodes, edges: c.edges, groups: c.groups });
  };
  return strip(a) === strip(b);
}

/** Problems the server would refuse, in words (empty when the layout is fine). */
export function validateLayout(layout: DashboardLayout): string[] {
  const problems: string[] = [];
  if (layout.nodes.length > LIMITS.nodes) problems.push(`At most ${LIMITS.nodes} nodes (there are ${layout.nodes.length}).`);
  if (layout.edges.length > LIMITS.edges) problems.push(`At most ${LIMITS.edges} links (there are ${layout.edges.length}).`);
  if (layout.groups.length > LIMITS.groups) problems.push(`At most ${LIMITS.groups} groups.`);
  const ids = new Set<string>();
  const nodeIds = new Set<string>();
  const groupIds = new Set(layout.groups.map((g) => g.id));
  for (const item of [...layout.groups, ...layout.nodes, ...layout.edges]) {
    if (ids.has(item.id)) problems.push(`The id “${item.id}” is used twice.`);
    ids.add(item.id);
  }
  for (const n of layout.nodes) {
    nodeIds.add(n.id);
    if ((n.text ?? "").length > LIMITS.text) problems.push(`A note is longer than ${LIMITS.text} characters.`);
    if (n.kind !== "note" && !n.ref) problems.push(`The node “${n.id}” does not say which ${n.kind} it shows.`);
    if (n.parent && !groupIds.has(n.parent)) problems.push(`The node “${n.id}” is in a group that does not exist.`);
    const a = n.annotations ?? {};
    if ((a.owner ?? "").length > LIMITS.owner) problems.push(`An owner is longer than ${LIMITS.owner} characters.`);
    if ((a.sla ?? "").length > LIMITS.sla) problems.push(`An SLA note is longer than ${LIMITS.sla} characters.`);
    if ((a.note ?? "").length > LIMITS.text) problems.push(`An annotation note is longer than ${LIMITS.text} characters.`);
  }
  for (const e of layout.edges) {
    if ((e.label ?? "").length > LIMITS.edgeLabel) problems.push(`A link label is longer than ${LIMITS.edgeLabel} characters.`);
    if (!nodeIds.has(e.source) || !nodeIds.has(e.target)) problems.push(`The link “${e.id}” points at a missing node.`);
  }
  for (const g of layout.groups) {
    if (g.label.length > LIMITS.label) problems.push(`A group label is longer than ${LIMITS.label} characters.`);
  }
  return problems;
}

/* Ids, grid -------------------------------------------------------------------------------------- */

let counter = 0;

/** A short id not yet used in the layout. */
export function newId(prefix: string, layout: DashboardLayout): string {
  const taken = new Set([...layout.nodes, ...layout.edges, ...layout.groups].map((x) => x.id));
  for (;;) {
    counter += 1;
    const random = Math.random().toString(36).slice(2, 8);
    const id = `${prefix}-${random}${counter.toString(36)}`;
    if (!taken.has(id)) return id;
  }
}

export function snap(value: number, grid = GRID): number {
  return Math.round(value / grid) * grid;
}

export function snapPoint(p: XY, grid = GRID): XY {
  return { x: snap(p.x, grid), y: snap(p.y, grid) };
}

/* Geometry and groups --------------------------------------------------------------------------- */

/** Where a node is on the canvas (a grouped node's position is relative to its group). */
export function absolutePosition(layout: DashboardLayout, node: LayoutNode): XY {
  if (!node.parent) return node.position;
  const g = layout.groups.find((x) => x.id === node.parent);
  return g ? { x: g.position.x + node.position.x, y: g.position.y + node.position.y } : node.position;
}

/** The group under a canvas point (the one drawn last wins when groups overlap). */
export function groupAt(layout: DashboardLayout, p: XY): LayoutGroup | undefined {
  for (let i = layout.groups.length - 1; i >= 0; i -= 1) {
    const g = layout.groups[i]!;
    if (p.x >= g.position.x && p.x <= g.position.x + g.size.width && p.y >= g.position.y && p.y <= g.position.y + g.size.height) {
      return g;
    }
  }
  return undefined;
}

/**
 * Put a node in the group its centre lies in (or take it out of any), keeping where it is on
 * screen. `nodeSize` is its rendered size.
 */
export function reparent(layout: DashboardLayout, nodeId: string, nodeSize: Size): DashboardLayout {
  const node = layout.nodes.find((n) => n.id === nodeId);
  if (!node) return layout;
  const abs = absolutePosition(layout, node);
  const centre = { x: abs.x + nodeSize.width / 2, y: abs.y + nodeSize.height / 2 };
  const group = groupAt(layout, centre);
  if ((group?.id ?? undefined) === node.parent) return layout;
  const position = group ? { x: abs.x - group.position.x, y: abs.y - group.position.y } : abs;
  const next: LayoutNode = { ...node, position };
  if (group) next.parent = group.id;
  else delete next.parent;
  return { ...layout, nodes: layout.nodes.map((n) => (n.id === nodeId ? next : n)) };
}

/* Edits ------------------------------------------------------------------------------------------ */

export function addNode(layout: DashboardLayout, node: LayoutNode): DashboardLayout {
  return { ...layout, nodes: [...layout.nodes, node] };
}

export function addGroup(layout: DashboardLayout, group: LayoutGroup): DashboardLayout {
  return { ...layout, groups: [...layout.groups, group] };
}

/** A link between two nodes; refused (same layout back) for a loop or a duplicate. */
export function addEdge(layout: DashboardLayout, edge: LayoutEdge): DashboardLayout {
  if (edge.source === edge.target) return layout;
  if (layout.edges.some((e) => e.source === edge.source && e.target === edge.target)) return layout;
  const ids = new Set(layout.nodes.map((n) => n.id));
  if (!ids.has(edge.source) || !ids.has(edge.target)) return layout;
  return { ...layout, edges: [...layout.edges, edge] };
}

/** Remove nodes, links and groups; links of removed nodes go too, members of removed groups stay. */
export function removeItems(layout: DashboardLayout, ids: Iterable<string>): DashboardLayout {
  const gone = new Set(ids);
  if (!gone.size) return layout;
  const removedGroups = layout.groups.filter((g) => gone.has(g.id));
  let nodes = layout.nodes.filter((n) => !gone.has(n.id));
  if (removedGroups.length) {
    const byId = new Map(removedGroups.map((g) => [g.id, g]));
    nodes = nodes.map((n) => {
      const g = n.parent ? byId.get(n.parent) : undefined;
      if (!g) return n;
      const next: LayoutNode = { ...n, position: { x: g.position.x + n.position.x, y: g.position.y + n.position.y } };
      delete next.parent;
      return next;
    });
  }
  const kept = new Set(nodes.map((n) => n.id));
  return {
    ...layout,
    nodes,
    edges: layout.edges.filter((e) => !gone.has(e.id) && kept.has(e.source) && kept.has(e.target)),
    groups: layout.groups.filter((g) => !gone.has(g.id)),
  };
}

export function updateNode(layout: DashboardLayout, id: string, patch: Partial<LayoutNode>): DashboardLayout {
  return {
    ...layout,
    nodes: layout.nodes.map((n) => {
      if (n.id !== id) return n;
      const next = { ...n, ...patch };
      if ("annotations" in patch) {
        const trimmed = Object.fromEntries(
          Object.entries(patch.annotations ?? {}).map(([k, v]) => [k, typeof v === "string" ? v.trim() : v]),
        ) as Annotations;
        const ann = cleanAnnotations(trimmed);
        if (ann) next.annotations = ann;
        else delete next.annotations;
      }
      return next;
    }),
  };
}

export function updateGroup(layout: DashboardLayout, id: string, patch: Partial<LayoutGroup>): DashboardLayout {
  return { ...layout, groups: layout.groups.map((g) => (g.id === id ? { ...g, ...patch } : g)) };
}

export function updateEdge(layout: DashboardLayout, id: string, label: string): DashboardLayout {
  return {
    ...layout,
    edges: layout.edges.map((e) => {
      if (e.id !== id) return e;
      const next: LayoutEdge = { id: e.id, source: e.source, target: e.target };
      if (label.trim()) next.label = label.trim();
      return next;
    }),
  };
}

/** Move several nodes/groups at once (positions as React Flow reports them: relative to a parent). */
export function moveItems(layout: DashboardLayout, moves: Map<string, XY>): DashboardLayout {
  if (!moves.size) return layout;
  return {
    ...layout,
    nodes: layout.nodes.map((n) => (moves.has(n.id) ? { ...n, position: moves.get(n.id)! } : n)),
    groups: layout.groups.map((g) => (moves.has(g.id) ? { ...g, position: moves.get(g.id)! } : g)),
  };
}

/** Put every node (outside groups) where an automatic layout placed it, groups dissolved. */
export function applyPositions(layout: DashboardLayout, positions: Map<string, XY>): DashboardLayout {
  const cleared = removeItems(layout, layout.groups.map((g) => g.id));
  return {
    ...cleared,
    nodes: cleared.nodes.map((n) => {
      const p = positions.get(n.id);
      return p ? { ...n, position: snapPoint(p) } : n;
    }),
  };
}

/** Refs of the datasets and processes a layout shows (each once). */
export function refsOf(layout: DashboardLayout): string[] {
  return Array.from(new Set(layout.nodes.filter((n) => n.kind !== "note" && n.ref).map((n) => n.ref!)));
}

/** Does a node carry a non-empty annotation (what the coverage figures count)? */
export function isAnnotated(node: LayoutNode): boolean {
  return !!cleanAnnotations(node.annotations);
}

/* From lineage ----------------------------------------------------------------------------------- */

export interface LineageStart {
  layout: DashboardLayout;
  entities: Record<string, EntityInfo>;
  /** Nodes left out because the reader may not see them (they cannot be referenced). */
  restricted: number;
}

/**
 * A starting layout from a lineage neighbourhood (`GET /api/lineage/graph` upstream and
 * downstream): one node per visible dataset or process, one link per lineage edge between them.
 * Restricted placeholders are left out (a dashboard can only point at what its author sees, and
 * others may see it). Positions are a plain grid until `applyPositions` runs an automatic layout.
 */
export function layoutFromLineage(upstream: Graph | undefined, downstream: Graph | undefined): LineageStart {
  const graph = buildGraph(upstream, downstream, []);
  const kept = graph.nodes.filter((n) => !n.restricted);
  const idOf = new Map(kept.map((n, i) => [n.id, `n${i + 1}`]));
  const entities: Record<string, EntityInfo> = {};
  const nodes: LayoutNode[] = kept.map((n, i) => {
    entities[n.id] = { id: n.id, kind: n.kind, name: n.name, namespace: n.namespace, platform: n.platform };
    return { id: idOf.get(n.id)!, kind: n.kind, ref: n.id, position: { x: (i % 5) * 280, y: Math.floor(i / 5) * 120 } };
  });
  const edges: LayoutEdge[] = [];
  for (const e of graph.edges) {
    const source = idOf.get(e.source);
    const target = idOf.get(e.target);
    if (source && target) edges.push({ id: `e${edges.length + 1}`, source, target });
  }
  return {
    layout: { ...EMPTY_LAYOUT, nodes, edges },
    entities,
    restricted: graph.nodes.length - kept.length,
  };
}
