import { describe, expect, it } from "vitest";
import { activeAuditFilters, auditSearchParams, describeChange, parseAuditParams, toAuditFilters } from "./auditQuery";

describe("audit search state", () => {
  it("round-trips through the URL and drops malformed days", () => {
    const params = new URLSearchParams("actor=steward%40acme.test&action=dataset.&from=2026-11-01&to=nope");
    const state = parseAuditParams(params);
    expect(state).toMatchObject({ actor: "steward@acme.test", action: "dataset.", from: "2026-11-01", to: "" });
    expect(auditSearchParams(state).toString()).toBe("actor=steward%40acme.test&action=dataset.&from=2026-11-01");
    expect(activeAuditFilters(state)).toBe(3);
  });

  it("counts the whole last day and sends instants", () => {
    const f = toAuditFilters(parseAuditParams(new URLSearchParams("from=2026-11-01&to=2026-11-01&org=o1")));
    const since = new Date(f.since ?? "");
    const until = new Date(f.until ?? "");
    expect(until.getTime() - since.getTime()).toBe(24 * 3600 * 1000);
    expect(since.getHours()).toBe(0);
    expect(f.org_id).toBe("o1");
    expect(toAuditFilters(parseAuditParams(new URLSearchParams("")))).toEqual({});
  });

  it("describes a change briefly", () => {
    expect(describeChange("description", { before: "v1", after: "v2" })).toBe("description: v1 → v2");
    expect(describeChange("secrets.password", { before: null, after: "***" })).toBe("secrets.password: — → ***");
    expect(describeChange("x", { before: "a".repeat(200), after: 1 })).toMatch(/…/);
  });
});
