import { describe, expect, it } from "vitest";
import type { Graph } from "../api/types";
import {
  EMPTY_LAYOUT,
  absolutePosition,
  addEdge,
  addGroup,
  addNode,
  applyPositions,
  canonicalLayout,
  groupAt,
  isAnnotated,
  layoutFromLineage,
  newId,
  refsOf,
  removeItems,
  reparent,
  sameContent,
  snap,
  snapPoint,
  updateEdge,
  updateNode,
  validateLayout,
  type DashboardLayout,
} from "./dashboardLayout";

const A = "0190f0a0-0000-7000-8000-00000000000a";
const B = "0190f0a0-0000-7000-8000-00000000000b";
const P = "0190f0a0-0000-7000-8000-00000000000c";

function sample(): DashboardLayout {
  return {
    nodes: [
      { id: "a", kind: "dataset", ref: A, position: { x: 0, y: 0 } },
      { id: "p", kind: "process", ref: P, position: { x: 300, y: 0 }, annotations: { owner: "Ada", sla: "07:00 UTC" } },
      { id: "b", kind: "dataset", ref: B, position: { x: 40, y: 60 }, parent: "g" },
      { id: "note", kind: "note", text: "Check with finance", position: { x: 0, y: 200 }, size: { width: 220, height: 100 } },
    ],
    edges: [
      { id: "e1", source: "a", target: "p" },
      { id: "e2", source: "p", target: "b", label: "loads" },
    ],
    groups: [{ id: "g", label: "Mart", position: { x: 600, y: 0 }, size: { width: 400, height: 300 } }],
    viewport: { x: 10, y: -20, zoom: 0.8 },
  };
}

describe("canonical form", () => {
  it("reads an API layout and writes it back unchanged (save → load is identical)", () => {
    const l = sample();
    const once = canonicalLayout(JSON.parse(JSON.stringify(l)));
    expect(once).toEqual(l);
    expect(JSON.stringify(canonicalLayout(once))).toBe(JSON.stringify(once));
  });

  it("drops nulls, blank annotations and fills missing lists", () => {
    const c = canonicalLayout({
      nodes: [{ id: "x", kind: "note", text: "", position: { x: 1, y: 2 }, size: null, parent: null, annotations: { owner: " ", sla: null } }],
    });
    expect(c).toEqual({
      nodes: [{ id: "x", kind: "note", text: "", position: { x: 1, y: 2 } }],
      edges: [],
      groups: [],
      viewport: { x: 0, y: 0, zoom: 1 },
    });
  });

  it("keeps a fixed key order whatever order the server used", () => {
    const shuffled = { viewport: { zoom: 2, y: 1, x: 0 }, groups: [], edges: [{ target: "b", id: "e", source: "a" }], nodes: [] };
    expect(JSON.stringify(canonicalLayout(shuffled))).toBe(
      '{"nodes":[],"edges":[{"id":"e","source":"a","target":"b"}],"groups":[],"viewport":{"x":0,"y":1,"zoom":2}}',
    );
  });

  it("compares content without the viewport", () => {
    const moved = { ...sample(), viewport: { x: 500, y: 500, zoom: 2 } };
    expect(sameContent(sample(), moved)).toBe(true);
    expect(sameContent(sample(), updateNode(sample(), "a", { position: { x: 20, y: 0 } }))).toBe(false);
  });
});

describe("validation", () => {
  it("accepts a good layout", () => {
    expect(validateLayout(sample())).toEqual([]);
  });

  it("names duplicate ids, dangling links and parents, and missing refs", () => {
    const l = sample();
    l.nodes.push({ id: "a", kind: "dataset", position: { x: 0, y: 0 } });
    l.nodes.push({ id: "z", kind: "note", text: "", position: { x: 0, y: 0 }, parent: "nope" });
    l.edges.push({ id: "e3", source: "a", target: "ghost" });
    const problems = validateLayout(l);
    expect(problems).toContain("The id “a” is used twice.");
    expect(problems).toContain("The node “z” is in a group that does not exist.");
    expect(problems).toContain("The link “e3” points at a missing node.");
    expect(problems).toContain("The node “a” does not say which dataset it shows.");
  });

  it("bounds text lengths", () => {
    const l = addNode(EMPTY_LAYOUT, { id: "n", kind: "note", text: "x".repeat(10_001), position: { x: 0, y: 0 } });
    expect(validateLayout(l)).toEqual(["A note is longer than 10000 characters."]);
  });
});

describe("grid and ids", () => {
  it("snaps to the grid", () => {
    expect(snap(29)).toBe(20);
    expect(snap(31)).toBe(40);
    expect(snap(-11)).toBe(-20);
    expect(snapPoint({ x: 9, y: 11 }, 10)).toEqual({ x: 10, y: 10 });
  });

  it("makes ids that are not taken", () => {
    const l = sample();
    const ids = new Set<string>();
    for (let i = 0; i < 200; i += 1) ids.add(newId("n", l));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(["a", "p", "b", "note", "g", "e1", "e2"]).not.toContain(id);
  });
});

describe("groups", () => {
  it("finds the group under a point, the last drawn first", () => {
    let l = sample();
    expect(groupAt(l, { x: 700, y: 100 })?.id).toBe("g");
    expect(groupAt(l, { x: 100, y: 100 })).toBeUndefined();
    l = addGroup(l, { id: "g2", label: "Inner", position: { x: 650, y: 50 }, size: { width: 100, height: 100 } });
    expect(groupAt(l, { x: 700, y: 100 })?.id).toBe("g2");
  });

  it("moves a node into a group, keeping where it is on the canvas", () => {
    let l = updateNode(sample(), "a", { position: { x: 640, y: 40 } });
    l = reparent(l, "a", { width: 100, height: 40 });
    const a = l.nodes.find((n) => n.id === "a")!;
    expect(a.parent).toBe("g");
    expect(a.position).toEqual({ x: 40, y: 40 });
    expect(absolutePosition(l, a)).toEqual({ x: 640, y: 40 });
  });

  it("takes a node out of its group when dragged outside", () => {
    let l = updateNode(sample(), "b", { position: { x: 500, y: 60 } });
    l = reparent(l, "b", { width: 100, height: 40 });
    const b = l.nodes.find((n) => n.id === "b")!;
    expect(b.parent).toBeUndefined();
    expect(b.position).toEqual({ x: 1100, y: 60 });
  });

  it("leaves the layout alone when the group does not change", () => {
    const l = sample();
    expect(reparent(l, "b", { width: 100, height: 40 })).toBe(l);
  });

  it("removing a group keeps its members where they were", () => {
    const l = removeItems(sample(), ["g"]);
    expect(l.groups).toEqual([]);
    expect(l.nodes.find((n) => n.id === "b")).toEqual({ id: "b", kind: "dataset", ref: B, position: { x: 640, y: 60 } });
    expect(l.edges).toHaveLength(2);
  });
});

describe("edits", () => {
  it("adds links between existing nodes only, no loops or duplicates", () => {
    const l = sample();
    expect(addEdge(l, { id: "x", source: "a", target: "a" })).toBe(l);
    expect(addEdge(l, { id: "x", source: "a", target: "p" })).toBe(l);
    expect(addEdge(l, { id: "x", source: "a", target: "ghost" })).toBe(l);
    expect(addEdge(l, { id: "x", source: "note", target: "a" }).edges).toHaveLength(3);
  });

  it("removing a node removes its links", () => {
    const l = removeItems(sample(), ["p"]);
    expect(l.nodes.map((n) => n.id)).toEqual(["a", "b", "note"]);
    expect(l.edges).toEqual([]);
  });

  it("sets and clears annotations (trimmed, blanks dropped)", () => {
    let l = updateNode(sample(), "a", { annotations: { owner: "  Grace ", sla: "", note: "" } });
    expect(l.nodes[0]!.annotations).toEqual({ owner: "Grace" });
    expect(isAnnotated(l.nodes[0]!)).toBe(true);
    l = updateNode(l, "a", { annotations: { owner: " " } });
    expect(l.nodes[0]).not.toHaveProperty("annotations");
    expect(isAnnotated(l.nodes[0]!)).toBe(false);
  });

  it("labels and unlabels a link", () => {
    let l = updateEdge(sample(), "e1", " feeds ");
    expect(l.edges[0]).toEqual({ id: "e1", source: "a", target: "p", label: "feeds" });
    l = updateEdge(l, "e1", "");
    expect(l.edges[0]).toEqual({ id: "e1", source: "a", target: "p" });
  });

  it("lists each ref once", () => {
    const l = addNode(sample(), { id: "a2", kind: "dataset", ref: A, position: { x: 0, y: 0 } });
    expect(refsOf(l)).toEqual([A, P, B]);
  });

  it("applies an automatic layout snapped to the grid, dissolving groups", () => {
    const l = applyPositions(sample(), new Map([["a", { x: 13, y: 27 }], ["b", { x: 101, y: 0 }]]));
    expect(l.groups).toEqual([]);
    expect(l.nodes.find((n) => n.id === "a")!.position).toEqual({ x: 20, y: 20 });
    expect(l.nodes.find((n) => n.id === "b")).toEqual({ id: "b", kind: "dataset", ref: B, position: { x: 100, y: 0 } });
  });
});

describe("starting from lineage", () => {
  const ds = (id: string, depth: number, name = id) => ({ id, kind: "dataset" as const, name, namespace: "ns", platform: "snowflake", depth });
  const up: Graph = {
    nodes: [ds(A, 0, "ORDERS"), { id: P, kind: "process", name: "load", namespace: "airflow", depth: 1 }, { id: "restricted-x", kind: "dataset", depth: 2, restricted: true }],
    edges: [
      { source: P, target: A },
      { source: "restricted-x", target: P },
    ],
    truncated: false,
    engine: "postgres",
  };
  const down: Graph = {
    nodes: [ds(A, 0, "ORDERS"), ds(B, 1, "REVENUE")],
    edges: [{ source: A, target: B }],
    truncated: false,
    engine: "postgres",
  };

  it("makes one node per visible entity and one link per edge between them", () => {
    const { layout, entities, restricted } = layoutFromLineage(up, down);
    expect(layout.nodes.map((n) => [n.kind, n.ref])).toEqual([
      ["dataset", A],
      ["process", P],
      ["dataset", B],
    ]);
    const byRef = new Map(layout.nodes.map((n) => [n.ref, n.id]));
    expect(layout.edges.map((e) => [e.source, e.target])).toEqual([
      [byRef.get(P), byRef.get(A)],
      [byRef.get(A), byRef.get(B)],
    ]);
    expect(restricted).toBe(1);
    expect(entities[B]).toEqual({ id: B, kind: "dataset", name: "REVENUE", namespace: "ns", platform: "snowflake" });
    expect(validateLayout(layout)).toEqual([]);
    expect(canonicalLayout(layout)).toEqual(layout);
  });
});
