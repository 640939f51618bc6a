import { describe, expect, it } from "vitest";
import { byDistance, columnHighlight, columnRefText, columnRows, fieldText, highlightOnGraph, type ColumnEdge } from "./columns";
import type { LGraph, LNode } from "./lineage";

const ORDERS = "11111111-1111-1111-1111-111111111111";
const RAW = "22222222-2222-2222-2222-222222222222";
const DAILY = "33333333-3333-3333-3333-333333333333";
const HIDDEN = "restricted-0b1c2d3e4f5a6b7c8d9e";

const edge = (input: [string, string, string | null], output: [string, string, string | null], extra: Partial<ColumnEdge> = {}): ColumnEdge => ({
  input_dataset_id: input[0],
  input_field: input[1],
  input_dataset_name: input[2],
  output_dataset_id: output[0],
  output_field: output[1],
  output_dataset_name: output[2],
  transformation_type: null,
  transformation_subtype: null,
  description: null,
  restricted: false,
  ...extra,
});

const EDGES: ColumnEdge[] = [
  edge([RAW, "amount_cents", "RAW.ORDERS"], [ORDERS, "amount", "CORE.ORDERS"], { transformation_type: "DIRECT", transformation_subtype: "TRANSFORMATION" }),
  edge([RAW, "id", "RAW.ORDERS"], [ORDERS, "order_id", "CORE.ORDERS"]),
  edge([ORDERS, "amount", "CORE.ORDERS"], [DAILY, "revenue", "MART.DAILY_REVENUE"]),
  // The same edge twice (both directions asked): listed once.
  edge([ORDERS, "amount", "CORE.ORDERS"], [DAILY, "revenue", "MART.DAILY_REVENUE"]),
  // A hidden consumer: neither its dataset's name nor its column's may show.
  edge([ORDERS, "amount", "CORE.ORDERS"], [HIDDEN, "secret_col", null], { restricted: true }),
  // A column only lineage knows of, and a use of the dataset as a whole.
  edge([ORDERS, "status", "CORE.ORDERS"], [DAILY, "", "MART.DAILY_REVENUE"], { transformation_type: "INDIRECT", transformation_subtype: "FILTER" }),
];

describe("columnRows", () => {
  const rows = columnRows(ORDERS, [{ name: "order_id", type: "NUMBER" }, { name: "amount", type: "NUMBER(12,2)" }, { name: "note" }], EDGES);

  it("lists described fields in order, then columns only lineage knows of", () => {
    expect(rows.map((r) => r.field)).toEqual(["order_id", "amount", "note", "status"]);
    expect(rows[1]?.type).toBe("NUMBER(12,2)");
    expect(rows[2]).toMatchObject({ from: [], feeds: [] });
  });

  it("says where each column comes from and what it feeds, each edge once", () => {
    const amount = rows.find((r) => r.field === "amount")!;
    expect(amount.from).toEqual([
      { datasetId: RAW, datasetName: "RAW.ORDERS", field: "amount_cents", restricted: false, transformation: "direct · transformation" },
    ]);
    expect(amount.feeds.map(columnRefText)).toEqual(["MART.DAILY_REVENUE · revenue", "Restricted column"]);
    expect(rows.find((r) => r.field === "status")!.feeds.map(columnRefText)).toEqual(["MART.DAILY_REVENUE · (whole dataset)"]);
  });

  it("never carries a restricted end's names", () => {
    const hidden = rows.find((r) => r.field === "amount")!.feeds[1];
    expect(hidden).toMatchObject({ datasetId: HIDDEN, datasetName: null, field: null, restricted: true });
    expect(JSON.stringify(rows)).not.toContain("secret_col");
  });

  it("reads an edge inside one dataset on both sides", () => {
    const r = columnRows(ORDERS, [], [edge([ORDERS, "a", "CORE.ORDERS"], [ORDERS, "b", "CORE.ORDERS"])]);
    expect(r.find((x) => x.field === "a")!.feeds).toHaveLength(1);
    expect(r.find((x) => x.field === "b")!.from).toHaveLength(1);
  });

  it("names the whole dataset", () => {
    expect(fieldText("")).toBe("(whole dataset)");
    expect(fieldText("x")).toBe("x");
  });
});

const node = (id: string, kind: "dataset" | "process" = "dataset"): LNode => ({ id, kind, name: id, depth: 0, side: "root" });

describe("a column's path on the canvas", () => {
  // RAW -> load -> ORDERS -> agg -> DAILY, and agg also writes OTHER (not on the path).
  const graph: LGraph = {
    nodes: [node(RAW), node("load", "process"), node(ORDERS), node("agg", "process"), node(DAILY), node("OTHER"), node("unrelated", "process")],
    edges: [
      { source: RAW, target: "load" },
      { source: "load", target: ORDERS },
      { source: ORDERS, target: "agg" },
      { source: "agg", target: DAILY },
      { source: "agg", target: "OTHER" },
      { source: "OTHER", target: "unrelated" },
    ],
    truncated: false,
  };
  const impact = {
    edges: [
      { source_dataset_id: ORDERS, source_field: "amount", target_dataset_id: DAILY, target_field: "revenue" },
      { source_dataset_id: DAILY, source_field: "revenue", target_dataset_id: HIDDEN, target_field: "x" },
    ],
  };
  const h = columnHighlight({ datasetId: ORDERS, field: "amount" }, EDGES, impact);

  it("collects the path's columns per dataset: upstream sources and everything downstream", () => {
    expect(h.fields.get(ORDERS)).toEqual(["amount"]);
    expect(h.fields.get(RAW)).toEqual(["amount_cents"]);
    expect(h.fields.get(DAILY)).toEqual(["revenue"]);
    expect(h.fields.has(HIDDEN)).toBe(false);
    expect([...h.pairs].sort()).toEqual([`${DAILY}->${HIDDEN}`, `${ORDERS}->${DAILY}`, `${RAW}->${ORDERS}`].sort());
  });

  it("lights the links through processes that join a pair of the path, not the others", () => {
    const on = highlightOnGraph(graph, h);
    expect([...on.edges].sort()).toEqual(
      [`${RAW}->load`, `load->${ORDERS}`, `${ORDERS}->agg`, `agg->${DAILY}`].sort(),
    );
    expect(on.nodes.has("agg")).toBe(true);
    expect(on.nodes.has("OTHER")).toBe(false);
    expect(on.nodes.has("unrelated")).toBe(false);
  });

  it("lights a direct dataset-to-dataset link too", () => {
    const g: LGraph = { nodes: [node(ORDERS), node(DAILY)], edges: [{ source: ORDERS, target: DAILY }], truncated: false };
    expect([...highlightOnGraph(g, h).edges]).toEqual([`${ORDERS}->${DAILY}`]);
  });
});

describe("byDistance", () => {
  it("groups nearest first", () => {
    const g = byDistance([
      { dataset_id: "a", name: "A", namespace: null, field: "f", distance: 2 },
      { dataset_id: "b", name: "B", namespace: null, field: "f", distance: 1 },
      { dataset_id: "c", name: "C", namespace: null, field: "f", distance: 2 },
    ]);
    expect(g.map((x) => [x.distance, x.items.map((i) => i.dataset_id)])).toEqual([
      [1, ["b"]],
      [2, ["a", "c"]],
    ]);
  });
});
