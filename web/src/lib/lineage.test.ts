import { describe, expect, it } from "vitest";
import type { Graph, ImpactItem } from "../api/types";
import { buildGraph, csvCell, impactCsv, impactFileName, neighbours, nodeTitle, tagRestricted } from "./lineage";

const ds = (id: string, depth: number, extra: object = {}) => ({
  id,
  kind: "dataset" as const,
  name: id.toUpperCase(),
  namespace: "ns",
  depth,
  restricted: false,
  ...extra,
});

const up: Graph = {
  nodes: [ds("root", 0), ds("src", 1), { id: "restricted-1", kind: "dataset", depth: 2, restricted: true }],
  edges: [
    { source: "src", target: "root" },
    { source: "restricted-1", target: "src" },
  ],
  truncated: false,
  engine: "postgres",
};
const down: Graph = {
  nodes: [ds("root", 0), ds("out", 1), { id: "restricted-1", kind: "process", depth: 1, restricted: true }],
  edges: [
    { source: "root", target: "restricted-1" },
    { source: "restricted-1", target: "out" },
  ],
  truncated: true,
  engine: "postgres",
};

describe("buildGraph", () => {
  it("merges both directions, keeping restricted placeholders of each response apart", () => {
    const g = buildGraph(up, down, []);
    expect(g.nodes.map((n) => n.id).sort()).toEqual(["out", "restricted-1@down", "restricted-1@up", "root", "src"].sort());
    expect(g.edges).toHaveLength(4);
    expect(g.truncated).toBe(true);
    expect(g.nodes.find((n) => n.id === "root")?.side).toBe("root");
    expect(g.nodes.find((n) => n.id === "src")?.side).toBe("upstream");
    expect(g.nodes.find((n) => n.id === "out")?.side).toBe("downstream");
  });

  it("adds an expansion in place with depths counted from the expanded node", () => {
    const expansion: Graph = {
      nodes: [ds("out", 0), ds("root", 1), ds("extra", 1)],
      edges: [
        { source: "out", target: "extra" },
        { source: "root", target: "out" },
      ],
      truncated: false,
      engine: "postgres",
    };
    const g = buildGraph(up, down, [{ anchor: "out", graph: expansion }]);
    const extra = g.nodes.find((n) => n.id === "extra");
    expect(extra).toMatchObject({ side: "expanded", depth: 2 });
    expect(g.nodes.filter((n) => n.id === "root")).toHaveLength(1);
    expect(g.edges.some((e) => e.source === "out" && e.target === "extra")).toBe(true);
    expect(neighbours(g).get("out")?.down).toContain("extra");
  });

  it("renames restricted ids in edges too", () => {
    const t = tagRestricted(up, "x");
    expect(t.edges[1]).toEqual({ source: "restricted-1@x", target: "src" });
  });
});

describe("impact CSV", () => {
  const items: ImpactItem[] = [
    { id: "1", kind: "dataset", name: "ORDERS, daily", namespace: "ns", distance: 1, health: "ok", owners: ["a@x", "b@x"], follower_count: 2, restricted: false },
    { id: "2", kind: "process", name: "=cmd()", namespace: "airflow", distance: 1, latest_run_state: "FAIL", health: "error", restricted: false },
    { id: "restricted-1", kind: "dataset", name: null, namespace: null, distance: 2, restricted: true },
  ];

  it("quotes, defuses formulas and names restricted rows without revealing them", () => {
    const csv = impactCsv(items).split("\r\n");
    expect(csv[0]).toBe("kind,name,namespace,distance,health,latest_run_state,owners,follower_count,restricted");
    expect(csv[1]).toBe('dataset,"ORDERS, daily",ns,1,ok,,"a@x; b@x",2,false');
    expect(csv[2]).toContain("'=cmd()");
    expect(csv[3]).toBe("dataset,Restricted dataset,,2,,,,,true");
  });

  it("escapes quotes", () => {
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
  });

  it("makes a file name", () => {
    expect(impactFileName({ node: { id: "x", kind: "dataset", name: "ANALYTICS.CORE/ORDERS", depth: 0 } })).toBe(
      "impact-ANALYTICS.CORE_ORDERS.csv",
    );
    expect(nodeTitle({ kind: "process", name: null, restricted: true })).toBe("Restricted process");
  });
});
