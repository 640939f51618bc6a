import { describe, expect, it } from "vitest";
import { activeFilterCount, parseCatalogParams, toApiSearch, toSearchParams, toggleValue } from "./catalogQuery";

describe("catalog URL state", () => {
  it("round-trips through the URL", () => {
    const params = new URLSearchParams("q=orders&platform=snowflake&platform=s3&tag=pii&sort=name&deprecated=1");
    const state = parseCatalogParams(params);
    expect(state).toMatchObject({ q: "orders", platform: ["snowflake", "s3"], tag: ["pii"], sort: "name", deprecated: true });
    expect(toSearchParams(state).toString()).toBe(params.toString());
    expect(activeFilterCount(state)).toBe(4);
  });

  it("ignores an unknown sort", () => {
    expect(parseCatalogParams(new URLSearchParams("sort=evil")).sort).toBe("relevance");
  });

  it("asks for newest first when there is no text to rank by", () => {
    expect(toApiSearch(parseCatalogParams(new URLSearchParams(""))).sort).toBe("updated");
    expect(toApiSearch(parseCatalogParams(new URLSearchParams("q=ord"))).sort).toBe("relevance");
    expect(toApiSearch(parseCatalogParams(new URLSearchParams("q=%20%20"))).query).toBeUndefined();
  });

  it("includes deprecated datasets only when asked", () => {
    expect(toApiSearch(parseCatalogParams(new URLSearchParams(""))).status).toBeUndefined();
    expect(toApiSearch(parseCatalogParams(new URLSearchParams("deprecated=1"))).status).toEqual(["active", "deprecated"]);
  });

  it("toggles facet values", () => {
    expect(toggleValue(["a"], "b")).toEqual(["a", "b"]);
    expect(toggleValue(["a", "b"], "a")).toEqual(["b"]);
  });
});
