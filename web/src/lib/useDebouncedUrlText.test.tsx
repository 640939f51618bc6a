import { act, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMemoryRouter, RouterProvider, useLocation, useNavigate } from "react-router";
import { parseCatalogParams, toSearchParams } from "./catalogQuery";
import { useDebouncedUrlText } from "./useDebouncedUrlText";

/** A catalog-like page: a search box plus the other ways its URL changes. */
function Page() {
  const search = useDebouncedUrlText("q", (latest, q) => toSearchParams({ ...parseCatalogParams(latest), q }), 200);
  const location = useLocation();
  const navigate = useNavigate();
  const state = parseCatalogParams(new URLSearchParams(location.search));
  return (
    <>
      <input aria-label="Search" value={search.text} onChange={(e) => search.onType(e.target.value)} />
      {/* A filter this page applies itself: it takes the typed text into the same URL. */}
      <button
        type="button"
        onClick={() => navigate(`?${toSearchParams({ ...state, tag: [...state.tag, "pii"], q: search.take() })}`)}
      >
        Filter pii
      </button>
      {/* Changes from elsewhere: a link with a filter, the header search. */}
      <button type="button" onClick={() => navigate(`?${toSearchParams({ ...state, platform: ["snowflake"] })}`)}>
        Link snowflake
      </button>
      <button type="button" onClick={() => navigate("?q=sales")}>
        Header search
      </button>
      <output data-testid="url">{location.search}</output>
    </>
  );
}

function setup(initial = "/catalog") {
  const router = createMemoryRouter([{ path: "/catalog", element: <Page /> }], { initialEntries: [initial] });
  render(<RouterProvider router={router} />);
  return router;
}

const url = () => new URLSearchParams(screen.getByTestId("url").textContent ?? "");
const type = (value: string) => fireEvent.change(screen.getByLabelText("Search"), { target: { value } });
const wait = (ms: number) => act(() => vi.advanceTimersByTimeAsync(ms));

describe("search as you type, debounced into the URL", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("pushes the text after the pause, replacing the history entry", async () => {
    const router = setup();
    type("o");
    type("or");
    type("ord");
    expect(url().get("q")).toBeNull();
    await wait(250);
    expect(url().get("q")).toBe("ord");
    expect(router.state.historyAction).toBe("REPLACE");
  });

  it("keeps a filter that arrived during the pause", async () => {
    setup("/catalog?tag=gold");
    type("ord");
    await wait(100);
    fireEvent.click(screen.getByText("Link snowflake"));
    await wait(250);
    expect(url().getAll("platform")).toEqual(["snowflake"]);
    expect(url().getAll("tag")).toEqual(["gold"]);
    expect(url().get("q")).toBe("ord");
  });

  it("a filter applied during the pause takes the typed text along, and nothing undoes it", async () => {
    setup();
    type("ord");
    await wait(50);
    fireEvent.click(screen.getByText("Filter pii"));
    expect(url().get("q")).toBe("ord");
    expect(url().getAll("tag")).toEqual(["pii"]);
    await wait(500);
    expect(url().getAll("tag")).toEqual(["pii"]);
    expect(url().get("q")).toBe("ord");
    expect(screen.getByLabelText<HTMLInputElement>("Search").value).toBe("ord");
  });

  it("text put in the URL from elsewhere wins over a pending push", async () => {
    setup();
    type("ord");
    await wait(50);
    fireEvent.click(screen.getByText("Header search"));
    await wait(0);
    expect(screen.getByLabelText<HTMLInputElement>("Search").value).toBe("sales");
    await wait(500);
    expect(url().get("q")).toBe("sales");
  });
});
