import { describe, expect, it } from "vitest";
import { KNOWN_EVENT_TYPES, describeEvent } from "./feed";
import { healthOf, healthSummary, isClockTime, isHealthEvent, percent, slaBody, slaText, statusBatches } from "./dashboardHealth";

describe("health", () => {
  it("reads unknown states as unknown", () => {
    expect(healthOf("failing")).toBe("failing");
    expect(healthOf("weird")).toBe("unknown");
    expect(healthOf(null)).toBe("unknown");
  });

  it("knows which live events change health", () => {
    expect(isHealthEvent("process.run_failed")).toBe(true);
    expect(isHealthEvent("dataset.sla_breached")).toBe(true);
    expect(isHealthEvent("dataset.sla_recovered")).toBe(true);
    expect(isHealthEvent("dataset.followed")).toBe(false);
  });

  it("splits ids into sorted batches of at most 500", () => {
    const ids = Array.from({ length: 1201 }, (_, i) => `id-${String(i).padStart(4, "0")}`).reverse();
    const batches = statusBatches([...ids, "id-0000"]);
    expect(batches.map((b) => b.length)).toEqual([500, 500, 201]);
    expect(batches[0]![0]).toBe("id-0000");
    expect(statusBatches([])).toEqual([]);
  });

  it("summarises states, worst first, only for refs on the canvas", () => {
    const s = {
      a: { kind: "dataset" as const, health: "ok" as const },
      b: { kind: "process" as const, health: "failing" as const },
      c: { kind: "dataset" as const, health: "ok" as const },
      d: { kind: "dataset" as const, health: "breached" as const },
    };
    expect(healthSummary(s, ["a", "b", "c", "x"])).toEqual([
      { state: "failing", count: 1 },
      { state: "ok", count: 2 },
    ]);
  });
});

describe("SLA form", () => {
  it("checks clock times", () => {
    expect(isClockTime("07:00")).toBe(true);
    expect(isClockTime("23:59")).toBe(true);
    expect(isClockTime("24:00")).toBe(false);
    expect(isClockTime("7:00")).toBe(false);
  });

  it("builds the request body or field errors", () => {
    expect(slaBody("daily_by", " 07:30 ", "")).toEqual({ body: { kind: "daily_by", at: "07:30" } });
    expect(slaBody("daily_by", "7.30", "")).toEqual({ errors: { at: "Enter a time as HH:MM (24-hour, UTC)." } });
    expect(slaBody("max_age", "", "24")).toEqual({ body: { kind: "max_age", hours: 24 } });
    for (const bad of ["0", "8761", "1.5", "", "x"]) {
      expect(slaBody("max_age", "", bad)).toEqual({ errors: { hours: "Enter a whole number of hours from 1 to 8760." } });
    }
  });

  it("says what an SLA promises", () => {
    expect(slaText({ kind: "daily_by", at: "07:00" })).toBe("Updated daily by 07:00 UTC");
    expect(slaText({ kind: "max_age", hours: 1 })).toBe("At most 1 hour old");
    expect(slaText({ kind: "max_age", hours: 6 })).toBe("At most 6 hours old");
  });

  it("shows shares as percentages", () => {
    expect(percent(0.456)).toBe("46%");
    expect(percent(1)).toBe("100%");
    expect(percent(null)).toBe("—");
  });
});

describe("SLA events in the feed", () => {
  const item = (type: string, payload: Record<string, unknown> = {}) => ({
    id: "1",
    type,
    occurred_at: "2026-01-01T07:05:00Z",
    actor: { id: null, name: "", kind: "system" },
    subject: { kind: "dataset", id: "d1", name: "ORDERS" },
    payload,
  });

  it("are delivered by the live stream and described in words", () => {
    expect(KNOWN_EVENT_TYPES).toContain("dataset.sla_breached");
    expect(KNOWN_EVENT_TYPES).toContain("dataset.sla_recovered");
    const breached = describeEvent(item("dataset.sla_breached", { due_at: "2026-01-01T07:00:00Z" }) as never);
    expect(breached.text).toBe("ORDERS is late: its freshness SLA is breached");
    expect(breached.tone).toBe("warning");
    expect(breached.detail).toContain("07:00:00 GMT");
    expect(describeEvent(item("dataset.sla_recovered") as never).text).toBe("ORDERS is fresh again: its SLA is met");
  });
});
