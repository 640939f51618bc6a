import { describe, expect, it } from "vitest";
import type { Graph } from "../api/types";
import {
  FIT_PADDING,
  boundsOf,
  buildGraph,
  fitPlan,
  hiddenOwnersNote,
  graphMore,
  moreLabel,
  moreOf,
  neighbours,
  nodeHref,
  nodeTitle,
  type MoreCounts,
} from "./lineage";

const ds = (id: string, depth: number, extra: object = {}) => ({
  id,
  kind: "dataset" as const,
  name: id.toUpperCase(),
  namespace: "ns",
  depth,
  restricted: false,
  ...extra,
});

// Placeholder ids as the server makes them: opaque, and the same for one hidden node everywhere.
const HIDDEN_DS = "restricted-3f9a0c1d2e4b5a6c7d8e";
const HIDDEN_JOB = "restricted-0b1c2d3e4f5a6b7c8d9e";

const up: Graph = {
  nodes: [ds("root", 0), ds("src", 1), { id: HIDDEN_DS, kind: "dataset", depth: 2, restricted: true }],
  edges: [
    { source: "src", target: "root" },
    { source: HIDDEN_DS, target: "src" },
  ],
  truncated: false,
  engine: "postgres",
};
const down: Graph = {
  nodes: [ds("root", 0), ds("out", 2), { id: HIDDEN_JOB, kind: "process", depth: 1, restricted: true }],
  edges: [
    { source: "root", target: HIDDEN_JOB },
    { source: HIDDEN_JOB, target: "out" },
  ],
  truncated: true,
  engine: "postgres",
};

describe("buildGraph", () => {
  it("merges both directions, keeping different hidden nodes apart", () => {
    const g = buildGraph(up, down, []);
    expect(g.nodes.map((n) => n.id).sort()).toEqual(["out", HIDDEN_DS, HIDDEN_JOB, "root", "src"].sort());
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
    expect(extra).toMatchObject({ side: "expanded", depth: 3 });
    expect(g.nodes.filter((n) => n.id === "root")).toHaveLength(1);
    expect(g.edges.some((e) => e.source === "out" && e.target === "extra")).toBe(true);
    expect(neighbours(g).get("out")?.down).toContain("extra");
  });

  it("shows a hidden node reached by several fetches once, with the edges of each", () => {
    // Expanding "out" upstream reaches the hidden job again, and a new hidden input of it.
    const expansion: Graph = {
      nodes: [
        ds("out", 0),
        { id: HIDDEN_JOB, kind: "process", depth: 1, restricted: true },
        ds("side", 1),
        { id: "restricted-99aa88bb77cc66dd55ee", kind: "dataset", depth: 2, restricted: true },
      ],
      edges: [
        { source: HIDDEN_JOB, target: "out" },
        { source: "side", target: "out" },
        { source: "restricted-99aa88bb77cc66dd55ee", target: HIDDEN_JOB },
      ],
      truncated: false,
      engine: "postgres",
    };
    const g = buildGraph(up, down, [{ anchor: "out", graph: expansion }]);
    expect(g.nodes.filter((n) => n.id === HIDDEN_JOB)).toHaveLength(1);
    expect(g.nodes.filter((n) => n.restricted)).toHaveLength(3);
    // The placeholder keeps the place it had (downstream, depth 1).
    expect(g.nodes.find((n) => n.id === HIDDEN_JOB)).toMatchObject({ side: "downstream", depth: 1 });
    expect(g.edges.filter((e) => e.source === HIDDEN_JOB && e.target === "out")).toHaveLength(1);
    expect(neighbours(g).get(HIDDEN_JOB)?.up.sort()).toEqual(["restricted-99aa88bb77cc66dd55ee", "root"].sort());
  });
});

describe("nodeTitle", () => {
  it("never names a restricted node", () => {
    expect(nodeTitle({ kind: "process", name: null, restricted: true })).toBe("Restricted process");
    expect(nodeTitle({ kind: "dataset", name: "SECRET", restricted: true })).toBe("Restricted dataset");
  });
});

describe("nodeHref", () => {
  it("opens a process on its page, a dataset on its own, and a restricted node nowhere", () => {
    expect(nodeHref({ id: "p1", kind: "process", restricted: false })).toBe("/processes/p1");
    expect(nodeHref({ id: "d1", kind: "dataset", restricted: false })).toBe("/datasets/d1");
    expect(nodeHref({ id: "d1", kind: "dataset", restricted: false }, (id) => `/datasets/${id}?tab=lineage`)).toBe(
      "/datasets/d1?tab=lineage",
    );
    expect(nodeHref({ id: HIDDEN_JOB, kind: "process", restricted: true })).toBeNull();
  });
});

describe("hidden owners of an impact", () => {
  it("says that owners are hidden instead of that nobody owns the datasets", () => {
    expect(hiddenOwnersNote(2, 0)).toBe(
      "2 owners of restricted datasets are hidden from you: ask the owning organization's admins or stewards to pass it on.",
    );
    expect(hiddenOwnersNote(1, 0)).toBe(
      "1 owner of restricted datasets is hidden from you: ask the owning organization's admins or stewards to pass it on.",
    );
    expect(hiddenOwnersNote(1, 3)).toMatch(/^Also, 1 owner of restricted datasets is hidden/);
    expect(hiddenOwnersNote(0, 0)).toBeNull();
    expect(hiddenOwnersNote(undefined, 2)).toBeNull();
  });
});

describe("fitting the lineage canvas", () => {
  it("shows a wide, short graph whole, in a canvas no taller than it needs", () => {
    // 12 nodes in a row (the demo's ORDERS, two levels each way) in a 1100 px wide canvas.
    const plan = fitPlan({ width: 2600, height: 150 }, 1100, 560);
    expect(plan.fits).toBe(true);
    expect(plan.zoom).toBeCloseTo((1100 - FIT_PADDING.left - FIT_PADDING.right) / 2600, 5);
    expect(2600 * plan.zoom).toBeLessThanOrEqual(1100 - FIT_PADDING.left - FIT_PADDING.right);
    expect(plan.height).toBe(260); // the minimum: no empty band of 300 px under the graph
  });

  it("never zooms in past 1 and keeps tall graphs within the maximum height", () => {
    expect(fitPlan({ width: 300, height: 100 }, 1100, 560)).toEqual({ fits: true, zoom: 1, height: 260 });
    const tall = fitPlan({ width: 600, height: 1000 }, 1100, 560);
    expect(tall.height).toBe(560);
    expect(tall.fits).toBe(true);
    expect(1000 * tall.zoom).toBeLessThanOrEqual(560 - FIT_PADDING.top - FIT_PADDING.bottom + 0.001);
  });

  it("a graph too big to read whole opens at the readable zoom instead", () => {
    expect(fitPlan({ width: 20000, height: 300 }, 1100, 560)).toEqual({ fits: false, zoom: 0.35, height: 560 });
  });

  it("measures the box around laid-out nodes", () => {
    expect(
      boundsOf([
        { x: -10, y: 5, width: 100, height: 50 },
        { x: 200, y: 80, width: 40, height: 20 },
      ]),
    ).toEqual({ width: 250, height: 95 });
    expect(boundsOf([])).toEqual({ width: 0, height: 0 });
  });
});

describe('"+N more"', () => {
  // The counts are optional: typed as the graph endpoint of issue 20 gives them.
  const dsMore = (id: string, depth: number, more: MoreCounts) => ({ ...ds(id, depth), ...more }) as Graph["nodes"][number];
  const frontier: Graph = {
    nodes: [ds("root", 0), dsMore("edge", 1, { more_downstream: 1204 })],
    edges: [{ source: "root", target: "edge" }],
    truncated: false,
    engine: "index",
  };

  it("reads counts per node and per graph, 0 when the server does not tell", () => {
    const g = buildGraph(undefined, frontier, []);
    expect(moreOf(g.nodes.find((n) => n.id === "edge")!, "downstream")).toBe(1204);
    expect(moreOf(g.nodes.find((n) => n.id === "edge")!, "upstream")).toBe(0);
    expect(moreOf(g.nodes.find((n) => n.id === "root")!, "downstream")).toBe(0);
    expect(graphMore(frontier)).toEqual({ upstream: 0, downstream: 0, exact: true });
    expect(graphMore({ ...frontier, more: { upstream: 3, downstream: 1204 }, more_exact: false } as Graph)).toEqual({
      upstream: 3,
      downstream: 1204,
      exact: false,
    });
  });

  it("labels exact counts and lower bounds", () => {
    expect(moreLabel(1204)).toBe("+1,204 more");
    expect(moreLabel(7, false)).toBe("+7+ more");
  });

  it("clears the side drawn by an expansion and keeps the new frontier's counts", () => {
    const next: Graph = {
      nodes: [dsMore("edge", 0, { more_downstream: 0 }), dsMore("next", 1, { more_downstream: 1200 })],
      edges: [{ source: "edge", target: "next" }],
      truncated: false,
      engine: "index",
    };
    const g = buildGraph(undefined, frontier, [{ anchor: "edge", graph: next, direction: "downstream" }]);
    expect(moreOf(g.nodes.find((n) => n.id === "edge")!, "downstream")).toBe(0);
    expect(moreOf(g.nodes.find((n) => n.id === "next")!, "downstream")).toBe(1200);
    expect(g.nodes.find((n) => n.id === "next")).toMatchObject({ side: "expanded", depth: 2 });
    expect(g.edges).toHaveLength(2);
  });

  it("an upstream expansion leaves the downstream count alone; a node seen twice keeps the smaller count", () => {
    const twoSided: Graph = {
      ...frontier,
      nodes: [ds("root", 0), dsMore("edge", 1, { more_downstream: 10, more_upstream: 5 })],
    };
    const again: Graph = {
      nodes: [dsMore("edge", 0, { more_downstream: 4 }), ds("up1", 1)],
      edges: [{ source: "up1", target: "edge" }],
      truncated: false,
      engine: "index",
    };
    const g = buildGraph(undefined, twoSided, [{ anchor: "edge", graph: again, direction: "upstream" }]);
    const edgeNode = g.nodes.find((n) => n.id === "edge")!;
    expect(moreOf(edgeNode, "upstream")).toBe(0);
    expect(moreOf(edgeNode, "downstream")).toBe(4);
  });
});
