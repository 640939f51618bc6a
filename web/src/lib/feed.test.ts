import { describe, expect, it } from "vitest";
import type { FeedItem } from "../api/types";
import { describeEvent, groupByDay, listing, matchesFilter, mergeLive } from "./feed";

function item(over: Partial<FeedItem> & { type: string }): FeedItem {
  return {
    id: over.id ?? "01a0",
    occurred_at: over.occurred_at ?? "2026-03-02T10:00:00Z",
    actor: over.actor ?? { id: "u1", name: "Ada Admin", kind: "user" },
    org_id: "o1",
    subject: over.subject ?? { kind: "dataset", id: "d1", name: "Orders" },
    payload: over.payload ?? {},
    ...over,
  };
}

describe("describeEvent", () => {
  it("says who published what, linking the dataset", () => {
    const d = describeEvent(item({ type: "dataset.published", payload: { namespace: "snowflake://a", name: "X.Y" } }));
    expect(d.text).toBe("Ada Admin published Orders");
    expect(d.href).toBe("/datasets/d1");
    expect(d.detail).toBe("snowflake://a/X.Y");
    expect(d.label).toBe("Published");
  });

  it("names the changed fields of an update", () => {
    const d = describeEvent(item({ type: "dataset.updated", payload: { fields: ["description", "tags", "display_name"] } }));
    expect(d.text).toBe("Ada Admin changed the description, tags and display name of Orders");
  });

  it("describes visibility, deprecation, follows and connections", () => {
    expect(describeEvent(item({ type: "dataset.visibility_changed", payload: { before: "public", after: "private" } })).text).toBe(
      "Ada Admin made Orders private",
    );
    expect(describeEvent(item({ type: "dataset.deprecated" })).text).toBe("Ada Admin deprecated Orders");
    expect(describeEvent(item({ type: "dataset.followed" })).text).toBe("Ada Admin started following Orders");
    const connected = describeEvent(
      item({ type: "dataset.connected", payload: { platform: "snowflake", kinds: ["python", "jdbc_url"], tested: true } }),
    );
    expect(connected.text).toBe("Ada Admin connected to Orders from Snowflake");
    expect(connected.detail).toBe("Used the python and jdbc url snippets and tested the connection.");
  });

  it("one change is one item: a visibility change names the other fields it changed", () => {
    const d = describeEvent(
      item({ type: "dataset.visibility_changed", payload: { fields: ["description", "visibility"], before: "internal", after: "public" } }),
    );
    expect(d.text).toBe("Ada Admin made Orders public");
    expect(d.detail).toBe("It was internal. Also changed the description.");
  });

  it("says what a connect was: a copy, a download or a test", () => {
    const copy = describeEvent(item({ type: "dataset.connected", payload: { platform: "snowflake", kinds: ["python"], action: "copy" } }));
    expect(copy.detail).toBe("Copied the python snippet.");
    const download = describeEvent(item({ type: "dataset.connected", payload: { kinds: ["dbt"], action: "download" } }));
    expect(download.detail).toBe("Downloaded the dbt snippet.");
    const test = describeEvent(
      item({ type: "dataset.connected", payload: { kinds: ["python", "sql"], action: "test", tested: true } }),
    );
    expect(test.detail).toBe("Tested the connection.");
  });

  it("summarises lineage changes and names API keys", () => {
    const d = describeEvent(
      item({
        type: "lineage.changed",
        actor: { id: "k1", name: "api-key:airflow", kind: "api_key" },
        subject: { kind: "process", id: "p1", name: null },
        payload: { edges_added: [["a", "b"], ["b", "c"]], datasets_created: 1 },
      }),
    );
    expect(d.text).toBe("API key “airflow” recorded new lineage");
    expect(d.detail).toBe("2 new links, 1 new dataset.");
    expect(d.href).toBe("/processes/p1");
  });

  it("reports node health changes with the message", () => {
    const d = describeEvent(
      item({
        type: "node.status_changed",
        subject: { kind: "node", id: "n1", name: "Warehouse" },
        payload: { from: "ok", to: "error", message: "connection refused" },
      }),
    );
    expect(d.text).toBe("The connection Warehouse is now Error (was OK)");
    expect(d.detail).toBe("connection refused");
    expect(d.tone).toBe("danger");
  });

  it("reports failed runs", () => {
    const d = describeEvent(
      item({ type: "process.run_failed", subject: { kind: "process", id: "p1", name: "clean_orders" }, payload: { message: "OOM" } }),
    );
    expect(d.text).toBe("clean_orders failed");
    expect(d.detail).toBe("OOM");
  });

  it("shows a failed run's error message and opens the process page", () => {
    const d = describeEvent(
      item({
        type: "process.run_failed",
        subject: { kind: "process", id: "p1", name: "clean_orders" },
        payload: { error_message: "Table 'RAW.ORDERS' does not exist", impact_count: 2 },
      }),
    );
    expect(d.detail).toBe("Table 'RAW.ORDERS' does not exist 2 downstream datasets affected.");
    expect(d.href).toBe("/processes/p1");
  });

  it("announces failed data quality checks on a dataset", () => {
    const d = describeEvent(
      item({
        type: "dataset.assertion_failed",
        payload: { failed_count: 2, failed: [{ assertion: "not_null", column: "amount" }, { assertion: "unique" }], impact_count: 1 },
      }),
    );
    expect(d.text).toBe("Orders failed 2 data quality checks");
    expect(d.detail).toBe("not_null on amount, unique. 1 downstream dataset affected.");
    expect(d.tone).toBe("danger");
    const one = describeEvent(item({ type: "dataset.assertion_failed", payload: { failed: [{ assertion: "not_null" }] } }));
    expect(one.text).toBe("Orders failed a data quality check");
  });

  it("counts what a failed run affects", () => {
    const d = describeEvent(
      item({ type: "process.run_failed", subject: { kind: "process", id: "p1", name: "clean_orders" }, payload: { impact_count: 3 } }),
    );
    expect(d.detail).toBe("3 downstream datasets affected.");
  });

  it("describes dashboards and SLAs, linking live dashboards only", () => {
    const board = { kind: "dashboard", id: "b1", name: "Daily sales flow" };
    const made = describeEvent(item({ type: "dashboard.created", subject: board }));
    expect(made.text).toBe("Ada Admin created the dashboard Daily sales flow");
    expect(made.href).toBe("/dashboards/b1");
    const copy = describeEvent(item({ type: "dashboard.created", subject: board, payload: { duplicated_from: "b0" } }));
    expect(copy.text).toBe("Ada Admin copied a dashboard as Daily sales flow");
    expect(describeEvent(item({ type: "dashboard.deleted", subject: board })).href).toBeNull();
    const sla = describeEvent(item({ type: "dataset.sla_set", payload: { kind: "daily_by", at: "07:00" } }));
    expect(sla.text).toBe("Ada Admin set a freshness SLA on Orders");
    expect(sla.detail).toBe("Updated daily by 07:00 UTC.");
  });

  it("falls back to a readable sentence for unknown types", () => {
    expect(describeEvent(item({ type: "dataset.starred" })).text).toBe("Ada Admin starred Orders");
  });
});

describe("live list", () => {
  const a = item({ id: "a", type: "dataset.published", occurred_at: "2026-03-02T10:00:00Z" });
  const b = item({ id: "b", type: "dataset.published", occurred_at: "2026-03-02T11:00:00Z" });
  const c = item({ id: "c", type: "dataset.updated", occurred_at: "2026-03-01T09:00:00Z" });

  it("puts live items first, newest first, without duplicates", () => {
    expect(mergeLive([a, b], [a, c]).map((x) => x.id)).toEqual(["b", "a", "c"]);
  });

  it("filters by dataset and type", () => {
    expect(matchesFilter(a, { datasetId: "d1" })).toBe(true);
    expect(matchesFilter(a, { datasetId: "other" })).toBe(false);
    expect(matchesFilter(c, { types: ["dataset.published"] })).toBe(false);
  });

  it("groups by day", () => {
    const now = new Date("2026-03-02T18:00:00Z");
    const groups = groupByDay([b, a, c], now);
    expect(groups.map((g) => [g.label, g.items.length])).toEqual([
      ["Today", 2],
      ["Yesterday", 1],
    ]);
  });

  it("lists words", () => {
    expect(listing(["a"])).toBe("a");
    expect(listing(["a", "b", "c"])).toBe("a, b and c");
  });
});

it("crawl events read as sentences", () => {
  const breaking = describeEvent(
    item({
      type: "dataset.schema_changed",
      payload: { breaking: true, dropped: ["c"], added: [], type_changed: [{ name: "b" }], downstream_count: 2 },
    }),
  );
  expect(breaking.text).toContain("changed in a breaking way");
  expect(breaking.detail).toBe("1 column dropped, 1 type changed. 2 downstream datasets.");
  const crawl = describeEvent(item({ type: "node.crawled", payload: { status: "partial", counts: { created: 3 } } }));
  expect(crawl.detail).toBe("3 new, 0 updated, 0 removed (partial: nothing removed).");
});
