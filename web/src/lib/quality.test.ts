import { describe, expect, it } from "vitest";
import type { QualityRecord } from "../api/types";
import {
  assertionLabel,
  failedAssertions,
  formatBytes,
  formatDuration,
  rowCountTrend,
  sparklinePoints,
  trendChange,
} from "./quality";

function rec(at: string, rows: number | null, assertions: QualityRecord["assertions"] = []): QualityRecord {
  return {
    run_id: at,
    process_id: null,
    process_name: null,
    event_time: at,
    dataset_version: null,
    row_count: rows,
    bytes: null,
    file_count: null,
    column_metrics: {},
    assertions,
    failed_assertions: assertions.filter((a) => !a.success).length,
  };
}

describe("data quality figures", () => {
  it("draws the row count trend oldest first, skipping runs without a count", () => {
    const history = [rec("2026-11-23", 1250), rec("2026-11-22", null), rec("2026-11-21", 1000)];
    const trend = rowCountTrend(history);
    expect(trend.map((p) => p.value)).toEqual([1000, 1250]);
    expect(trendChange(trend)).toBe("+25% since the previous run");
    expect(trendChange([{ at: "a", value: 1000 }, { at: "b", value: 990 }])).toBe("-1.0% since the previous run");
    expect(trendChange(trend.slice(0, 1))).toBeNull();
    expect(sparklinePoints(trend, 100, 20)).toBe("2.0,18.0 98.0,2.0");
    expect(sparklinePoints([{ at: "a", value: 5 }, { at: "b", value: 5 }], 100, 20)).toBe("2.0,10.0 98.0,10.0");
  });

  it("lists only the assertions that found issues, with their column", () => {
    const r = rec("x", 1, [
      { assertion: "not_null", success: false, column: "amount" },
      { assertion: "unique", success: true, column: "id" },
      { assertion: "row_count_between", success: false, name: "enough rows" },
    ]);
    expect(failedAssertions(r).map(assertionLabel)).toEqual(["not_null on amount", "enough rows (row_count_between)"]);
    expect(failedAssertions(null)).toEqual([]);
  });

  it("writes sizes and durations for people", () => {
    expect(formatBytes(4300)).toBe("4.2 KB");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(null)).toBe("—");
    expect(formatDuration(420)).toBe("7m 0s");
    expect(formatDuration(42)).toBe("42s");
    expect(formatDuration(3725)).toBe("1h 2m");
    expect(formatDuration(null)).toBe("—");
  });
});
