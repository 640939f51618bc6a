/**
 * Layered left-to-right layout with ELK. ELK itself (1.6 MB of compiled Java) runs in a Web
 * Worker loaded only when a lineage graph is first laid out: the page stays responsive.
 */
import ELK from "elkjs/lib/elk-api.js";
import workerUrl from "elkjs/lib/elk-worker.min.js?url";
import type { LGraph, LNode } from "../../lib/lineage";

export const NODE_WIDTH = { dataset: 240, process: 200, restricted: 190 } as const;

/** Characters of a name that fit on one line of a node (13px semibold, roughly 7.2px each). */
const CHARS_PER_LINE = { dataset: 22, process: 17 } as const;

/** Size of a node: names wrap to a second line, health adds a line. */
export function sizeOf(n: Pick<LNode, "kind" | "restricted" | "name" | "health">): { width: number; height: number } {
  if (n.restricted) return { width: NODE_WIDTH.restricted, height: 52 };
  const kind = n.kind === "process" ? "process" : "dataset";
  const lines = (n.name ?? "").length > CHARS_PER_LINE[kind] ? 2 : 1;
  const height = 36 + lines * 17 + (n.health ? 15 : 0);
  return { width: NODE_WIDTH[kind], height: Math.max(height, kind === "process" ? 52 : 56) };
}

let elk: InstanceType<typeof ELK> | null = null;

export async function layout(graph: LGraph): Promise<Map<string, { x: number; y: number }>> {
  return layoutBoxes(
    graph.nodes.map((n) => ({ id: n.id, ...sizeOf(n) })),
    graph.edges,
  );
}

/** The same layered layout for any boxes and links (the dashboard canvas's auto-layout uses it). */
export async function layoutBoxes(
  boxes: { id: string; width: number; height: number }[],
  links: { source: string; target: string }[],
): Promise<Map<string, { x: number; y: number }>> {
  elk ??= new ELK({ workerUrl });
  const result = await elk.layout({
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.layered.spacing.nodeNodeBetweenLayers": "56",
      "elk.spacing.nodeNode": "20",
      "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
      "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
      "elk.separateConnectedComponents": "true",
      "elk.spacing.componentComponent": "48",
    },
    children: boxes,
    edges: links.map((e, i) => ({ id: `e${i}`, sources: [e.source], targets: [e.target] })),
  });
  const out = new Map<string, { x: number; y: number }>();
  for (const c of result.children ?? []) out.set(c.id, { x: c.x ?? 0, y: c.y ?? 0 });
  return out;
}
