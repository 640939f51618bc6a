import { QueryClientProvider } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "../../api/queries";
import type { Impact, ImpactItem } from "../../api/types";
import { json, mockFetch, problem } from "../../test/helpers";
import { ImpactPanel, IMPACT_PAGE } from "./ImpactPanel";

const ROOT = { id: "root-id", kind: "dataset" as const, name: "CORE.ORDERS", namespace: "snowflake://x", depth: 0 };

const item = (i: number): ImpactItem => ({
  id: `ds-${i}`,
  kind: i % 5 === 0 ? "process" : "dataset",
  name: `MART.T_${i}`,
  namespace: "snowflake://x",
  distance: 1 + Math.floor(i / 40),
  restricted: false,
  owners: [],
  follower_count: 0,
});
const HIDDEN: ImpactItem = { id: "restricted-0b1c2d", kind: "dataset", name: null, namespace: null, distance: 3, restricted: true };

/** The server's answer: the same exact totals on every page, one page of items by position. */
function page(cursor: string | null): Impact {
  const all = [...Array.from({ length: 2 * IMPACT_PAGE + 3 }, (_, i) => item(i)), HIDDEN];
  const at = cursor ? Number(cursor) : 0;
  const items = all.slice(at, at + IMPACT_PAGE);
  return {
    node: ROOT,
    depth: 20,
    items,
    next_cursor: at + IMPACT_PAGE < all.length ? String(at + IMPACT_PAGE) : null,
    totals: { datasets: 84, processes: 20, restricted: 1, people: 2, hidden_owners: 0 },
    by_distance: [
      { distance: 1, count: 40 },
      { distance: 2, count: 40 },
      { distance: 3, count: 24 },
    ],
    by_platform: [{ platform: "snowflake", count: 83 }],
    notify: [],
    truncated: false,
    exact: true,
  };
}

function renderPanel() {
  const router = createMemoryRouter(
    [{ path: "/", element: <ImpactPanel nodeRef="dataset:snowflake://x:CORE.ORDERS" hrefFor={(id) => `/datasets/${id}`} /> }],
    { initialEntries: ["/"] },
  );
  const qc = createQueryClient();
  qc.setDefaultOptions({ queries: { retry: false } });
  render(
    <QueryClientProvider client={qc}>
      <RouterProvider router={router} />
    </QueryClientProvider>,
  );
}

describe("Impact panel", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("shows exact totals and counts by distance, pages with the cursor, names no restricted item", async () => {
    const calls = mockFetch((call) => {
      const url = new URL(call.url, "http://x");
      if (url.pathname === "/api/lineage/impact") return json(page(url.searchParams.get("cursor")));
      return problem(404, {});
    });
    const user = userEvent.setup();
    renderPanel();

    const totals = await screen.findByTestId("impact-totals");
    expect(totals.textContent).toContain("84 datasets");
    expect(totals.textContent).toContain("20 processes");
    expect(totals.textContent).toContain("1 restricted");
    expect(within(totals).getByText("Exact")).toBeTruthy();
    const bars = screen.getByTestId("impact-by-distance");
    expect(within(bars).getAllByRole("listitem").map((li) => li.textContent)).toEqual(["1 hop40", "2 hops40", "3 hops24"]);
    expect(screen.getByTestId("impact-by-platform").textContent).toContain("Snowflake");

    const list = screen.getByRole("list", { name: "Affected datasets and processes" });
    expect(within(list).getAllByTestId("impact-item")).toHaveLength(IMPACT_PAGE);
    expect(screen.getByTestId("impact-shown").textContent).toBe(`Affected (${IMPACT_PAGE} of 104)`);

    await user.click(screen.getByRole("button", { name: "Load more" }));
    expect(await within(list).findByText(`MART.T_${IMPACT_PAGE}`)).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "Load more" }));
    expect(await within(list).findByText("Restricted dataset")).toBeTruthy();
    expect(within(list).getAllByTestId("impact-item")).toHaveLength(2 * IMPACT_PAGE + 4);
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
    // The hidden item is shown as restricted, with no link and no id.
    const hidden = within(list).getByText("Restricted dataset").closest("li")!;
    expect(hidden.querySelector("a")).toBeNull();
    expect(hidden.textContent).not.toContain("restricted-0b1c2d");

    const impactCalls = calls.filter((c) => c.url.startsWith("/api/lineage/impact?"));
    expect(impactCalls.map((c) => new URL(c.url, "http://x").searchParams.get("cursor"))).toEqual([
      null,
      String(IMPACT_PAGE),
      String(2 * IMPACT_PAGE),
    ]);
    expect(impactCalls.every((c) => new URL(c.url, "http://x").searchParams.get("limit") === String(IMPACT_PAGE))).toBe(true);

    // Export: the server streams the whole blast radius, not the pages shown.
    const exportLink = screen.getByRole("link", { name: /Export CSV/ });
    expect(exportLink.getAttribute("href")).toBe("/api/lineage/impact/export?node=root-id&depth=20&format=csv");
    await user.selectOptions(screen.getByLabelText("Depth"), "3");
    await screen.findByRole("link", { name: /Export CSV/ });
    expect(screen.getByRole("link", { name: /Export CSV/ }).getAttribute("href")).toContain("depth=3");
  });

  it("lists each person once with their first reasons and how many more there are", async () => {
    mockFetch(() =>
      json({
        ...page(null),
        notify: [
          { id: "u-1", name: "Kim", email: "kim@acme.test", reasons: ["owns MART.A", "follows MART.B"], reasons_total: 9 },
          { id: null, name: "team:finance", email: null, reasons: ["owns MART.A"], reasons_total: 1 },
        ],
      }),
    );
    renderPanel();
    const people = await screen.findByRole("list", { name: "People to notify" });
    const rows = within(people).getAllByRole("listitem").map((li) => li.textContent);
    expect(rows[0]).toContain("owns MART.A · follows MART.B · and 7 more");
    expect(rows[1]).toContain("owns MART.A");
    expect(rows[1]).not.toContain("more");
  });

  it("says nothing is downstream, with no export", async () => {
    mockFetch(() =>
      json({
        ...page(null),
        items: [],
        next_cursor: null,
        totals: { datasets: 0, processes: 0, restricted: 0, people: 0 },
        by_distance: [],
        by_platform: [],
      }),
    );
    renderPanel();
    expect(await screen.findByText("Nothing downstream")).toBeTruthy();
    expect(screen.queryByRole("link", { name: /Export CSV/ })).toBeNull();
  });
});
