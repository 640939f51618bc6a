import { QueryClientProvider, useQuery } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { lineageApi } from "../../api/endpoints";
import { createQueryClient } from "../../api/queries";
import { columnRows, type ColumnEdge, type ColumnImpact } from "../../lib/columns";
import { json, mockFetch, problem } from "../../test/helpers";
import { ColumnsPanel } from "./ColumnsPanel";

const ORDERS = "11111111-1111-1111-1111-111111111111";
const DAILY = "33333333-3333-3333-3333-333333333333";
const HIDDEN = "restricted-0b1c2d3e4f5a6b7c8d9e";

const EDGES: ColumnEdge[] = [
  {
    input_dataset_id: "22222222-2222-2222-2222-222222222222",
    input_field: "amount_cents",
    input_dataset_name: "RAW.ORDERS",
    output_dataset_id: ORDERS,
    output_field: "amount",
    output_dataset_name: "CORE.ORDERS",
    restricted: false,
    transformation_type: "DIRECT",
    transformation_subtype: null,
    description: null,
  },
  {
    input_dataset_id: ORDERS,
    input_field: "amount",
    input_dataset_name: "CORE.ORDERS",
    output_dataset_id: DAILY,
    output_field: "revenue",
    output_dataset_name: "MART.DAILY_REVENUE",
    restricted: false,
    transformation_type: "DIRECT",
    transformation_subtype: null,
    description: null,
  },
];

const IMPACT: ColumnImpact = {
  column: { dataset_id: ORDERS, name: "CORE.ORDERS", namespace: "x", field: "amount" },
  depth: 20,
  items: [
    { dataset_id: DAILY, name: "MART.DAILY_REVENUE", namespace: "x", field: "revenue", distance: 1, restricted: false },
    { dataset_id: HIDDEN, name: null, namespace: null, field: null, distance: 2, restricted: true },
  ],
  edges: [{ source_dataset_id: ORDERS, source_field: "amount", target_dataset_id: DAILY, target_field: "revenue" }],
  totals: { columns: 2, datasets: 2, restricted: 1 },
};

function Harness() {
  const [selected, setSelected] = useState<string | null>(null);
  const impact = useQuery({
    queryKey: ["ci", selected],
    queryFn: () => lineageApi.columnImpact({ dataset: ORDERS, field: selected ?? "", depth: 20 }),
    enabled: !!selected,
  });
  const rows = columnRows(ORDERS, [{ name: "order_id" }, { name: "amount", type: "NUMBER" }], EDGES);
  return (
    <ColumnsPanel
      rows={rows}
      query={{ isPending: false, isError: false, error: null, isFetching: false, refetch: () => Promise.resolve({} as never) }}
      selected={selected}
      onSelect={setSelected}
      impact={impact}
      hrefFor={(id) => `/datasets/${id}?tab=lineage`}
    />
  );
}

describe("Columns panel", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("lists where each column comes from and what it feeds; selecting one shows its column impact", async () => {
    const calls = mockFetch((call) => (call.url.startsWith("/api/lineage/columns/impact") ? json(IMPACT) : problem(404, {})));
    const user = userEvent.setup();
    const router = createMemoryRouter([{ path: "/", element: <Harness /> }]);
    const qc = createQueryClient();
    qc.setDefaultOptions({ queries: { retry: false } });
    render(
      <QueryClientProvider client={qc}>
        <RouterProvider router={router} />
      </QueryClientProvider>,
    );

    const rows = screen.getAllByTestId("column-row");
    expect(rows.map((r) => r.querySelector("button")?.textContent)).toEqual(["order_id", "amount"]);
    const amount = rows[1]!;
    expect(within(amount).getByRole("link", { name: "RAW.ORDERS · amount_cents" }).getAttribute("href")).toBe(
      "/datasets/22222222-2222-2222-2222-222222222222?tab=lineage",
    );
    expect(within(amount).getByRole("link", { name: "MART.DAILY_REVENUE · revenue" })).toBeTruthy();
    expect(screen.queryByTestId("column-impact")).toBeNull();

    await user.click(within(amount).getByRole("button", { name: "amount" }));
    expect(within(amount).getByRole("button", { name: "amount" }).getAttribute("aria-pressed")).toBe("true");
    const impact = await screen.findByTestId("column-impact-totals");
    expect(impact.textContent).toContain("2 columns");
    expect(impact.textContent).toContain("1 restricted");
    const items = screen.getAllByTestId("column-impact-item");
    expect(items.map((i) => i.textContent?.trim())).toEqual(["MART.DAILY_REVENUE · revenue", "Restricted column"]);
    expect(items[1]!.querySelector("a")).toBeNull();
    expect(calls[0]!.url).toBe(`/api/lineage/columns/impact?dataset=${ORDERS}&field=amount&depth=20`);

    await user.click(screen.getByRole("button", { name: "Clear selection" }));
    expect(screen.queryByTestId("column-impact")).toBeNull();
  });
});
