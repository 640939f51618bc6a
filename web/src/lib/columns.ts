/**
 * Column lineage: a dataset's columns with where each comes from and what it feeds, and the
 * path of one column's impact drawn over the dataset-level canvas.
 */
import type { ColumnEdge, ColumnImpact, ColumnImpactItem } from "../api/types";
import { isRestrictedId, type LGraph } from "./lineage";

export type { ColumnEdge, ColumnImpact, ColumnImpactEdge, ColumnImpactItem } from "../api/types";

/** The column at the other end of an edge, as the Columns list shows it. */
export interface ColumnRef {
  datasetId: string;
  datasetName: string | null;
  field: string | null;
  restricted: boolean;
  transformation: string | null;
}

export interface ColumnRow {
  field: string;
  type: string | null;
  /** Upstream columns this one is computed from. */
  from: ColumnRef[];
  /** Downstream columns computed from this one. */
  feeds: ColumnRef[];
}

function transformation(e: ColumnEdge): string | null {
  const t = [e.transformation_type, e.transformation_subtype].filter(Boolean).join(" · ");
  return t ? t.toLowerCase() : null;
}

/**
 * One row per column of `datasetId`: the described fields first, in their order, then columns
 * only lineage knows of. A restricted end keeps neither its dataset's name nor its column's.
 */
export function columnRows(
  datasetId: string,
  fields: { name: string; type?: string | null }[],
  edges: ColumnEdge[],
): ColumnRow[] {
  const rows = new Map<string, ColumnRow>();
  const row = (field: string, type: string | null = null) => {
    let r = rows.get(field);
    if (!r) {
      r = { field, type, from: [], feeds: [] };
      rows.set(field, r);
    }
    return r;
  };
  for (const f of fields) row(f.name, f.type ?? null);
  const seen = new Set<string>();
  for (const e of edges) {
    const key = `${e.input_dataset_id}\u0000${e.input_field}\u0000${e.output_dataset_id}\u0000${e.output_field}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const restricted = !!e.restricted;
    // A column computed from another of the same dataset is listed on both sides.
    if (e.output_dataset_id === datasetId) {
      row(e.output_field ?? "").from.push({
        datasetId: e.input_dataset_id,
        datasetName: restricted ? null : (e.input_dataset_name ?? null),
        field: restricted ? null : (e.input_field ?? null),
        restricted,
        transformation: transformation(e),
      });
    }
    if (e.input_dataset_id === datasetId) {
      row(e.input_field ?? "").feeds.push({
        datasetId: e.output_dataset_id,
        datasetName: restricted ? null : (e.output_dataset_name ?? null),
        field: restricted ? null : (e.output_field ?? null),
        restricted,
        transformation: transformation(e),
      });
    }
  }
  return [...rows.values()];
}

/** A field name as shown: "" is the dataset as a whole (an indirect use: a filter, a join). */
export function fieldText(field: string | null | undefined): string {
  return field ? field : "(whole dataset)";
}

export function columnRefText(r: ColumnRef): string {
  if (r.restricted) return "Restricted column";
  return `${r.datasetName ?? "?"} · ${fieldText(r.field)}`;
}

/** Items of a column impact grouped by distance, nearest first. */
export function byDistance(items: ColumnImpactItem[]): { distance: number; items: ColumnImpactItem[] }[] {
  const groups = new Map<number, ColumnImpactItem[]>();
  for (const it of items) {
    const g = groups.get(it.distance) ?? [];
    g.push(it);
    groups.set(it.distance, g);
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([distance, xs]) => ({ distance, items: xs }));
}

/** What to light up on the canvas for one column: its datasets (with fields) and links. */
export interface ColumnHighlight {
  /** The selected column, "dataset id" and field. */
  origin: { datasetId: string; field: string };
  /** Dataset id -> the path's columns in it. */
  fields: Map<string, string[]>;
  /** Dataset-level pairs "source->target" along which a column flows. */
  pairs: Set<string>;
}

const pairKey = (source: string, target: string) => `${source}->${target}`;

/**
 * The path of one column: where it comes from (the dataset's upstream column edges of that
 * field) and everything it feeds, hop by hop (the column impact's edges).
 */
export function columnHighlight(
  origin: { datasetId: string; field: string },
  upstream: ColumnEdge[],
  impact: Pick<ColumnImpact, "edges"> | undefined,
): ColumnHighlight {
  const fields = new Map<string, string[]>();
  const add = (ds: string, f: string) => {
    const xs = fields.get(ds) ?? [];
    if (!xs.includes(f)) xs.push(f);
    fields.set(ds, xs);
  };
  const pairs = new Set<string>();
  add(origin.datasetId, origin.field);
  for (const e of upstream) {
    if (e.output_dataset_id !== origin.datasetId || e.output_field !== origin.field) continue;
    if (!e.restricted && e.input_field !== null) add(e.input_dataset_id, e.input_field);
    pairs.add(pairKey(e.input_dataset_id, origin.datasetId));
  }
  for (const e of impact?.edges ?? []) {
    if (!isRestrictedId(e.source_dataset_id)) add(e.source_dataset_id, e.source_field);
    if (!isRestrictedId(e.target_dataset_id)) add(e.target_dataset_id, e.target_field);
    pairs.add(pairKey(e.source_dataset_id, e.target_dataset_id));
  }
  return { origin, fields, pairs };
}

/**
 * The canvas's links and nodes on a column's path. The canvas draws dataset -> process ->
 * dataset; a column flows dataset to dataset, so a link into or out of a process is on the path
 * when the process joins a pair of the path.
 */
export function highlightOnGraph(graph: LGraph, h: ColumnHighlight): { nodes: Set<string>; edges: Set<string> } {
  const kind = new Map(graph.nodes.map((n) => [n.id, n.kind]));
  const into = new Map<string, string[]>(); // process -> datasets it reads
  const outOf = new Map<string, string[]>(); // process -> datasets it writes
  for (const e of graph.edges) {
    if (kind.get(e.target) === "process") into.set(e.target, [...(into.get(e.target) ?? []), e.source]);
    if (kind.get(e.source) === "process") outOf.set(e.source, [...(outOf.get(e.source) ?? []), e.target]);
  }
  const edges = new Set<string>();
  const nodes = new Set<string>();
  for (const e of graph.edges) {
    const s = kind.get(e.source);
    const t = kind.get(e.target);
    let on = false;
    if (s !== "process" && t !== "process") on = h.pairs.has(pairKey(e.source, e.target));
    else if (t === "process") on = (outOf.get(e.target) ?? []).some((d) => h.pairs.has(pairKey(e.source, d)));
    else if (s === "process") on = (into.get(e.source) ?? []).some((d) => h.pairs.has(pairKey(d, e.target)));
    if (on) {
      edges.add(pairKey(e.source, e.target));
      nodes.add(e.source);
      nodes.add(e.target);
    }
  }
  for (const id of h.fields.keys()) if (kind.has(id)) nodes.add(id);
  return { nodes, edges };
}
