import { QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "../../api/queries";
import type { Dataset } from "../../api/types";
import { ToastProvider } from "../../components/toasts";
import { json, mockFetch, problem } from "../../test/helpers";
import { ConnectPanel } from "./ConnectPanel";

const ME = {
  id: "u1",
  kind: "user",
  email: "vic@acme.test",
  name: "Vic",
  role: "viewer",
  is_platform_admin: false,
  org: { id: "o1", name: "Acme", slug: "acme" },
};

const DS = { id: "d1", platform: "postgres", display_name: "Orders" } as unknown as Dataset;

const PY = "import os\nconn = connect(password=os.environ[\"PGPASSWORD\"])\n";

function renderPanel(ds: Dataset = DS) {
  const router = createMemoryRouter(
    [
      { path: "/datasets/d1", element: <ConnectPanel ds={ds} title="Orders" /> },
      { path: "/profiles", element: <h1>Profiles page</h1> },
    ],
    { initialEntries: ["/datasets/d1"] },
  );
  const qc = createQueryClient();
  qc.setDefaultOptions({ queries: { retry: false } });
  render(
    <QueryClientProvider client={qc}>
      <ToastProvider>
        <RouterProvider router={router} />
      </ToastProvider>
    </QueryClientProvider>,
  );
  return router;
}

describe("Connect panel", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("without a profile: says so once, links to Profiles, still shows highlighted code to copy", async () => {
    const calls = mockFetch((call) => {
      if (call.url === "/api/auth/me") return json(ME);
      if (call.url.startsWith("/api/platform-profiles")) return json({ items: [], next_cursor: null });
      if (call.url === "/api/datasets/d1/connect")
        return json({
          dataset_id: "d1",
          platform: "postgresql",
          profile_id: null,
          artifacts: [
            { kind: "python", language: "python", filename: "connect_orders.py", content: PY },
            { kind: "sql", language: "sql", filename: "query.sql", content: "SELECT 1" },
          ],
          connection_test: null,
          warnings: ["You have no PostgreSQL profile (and your organization has no default one): …"],
        });
      return problem(404, {});
    });
    // user-event puts a clipboard on navigator; jsdom is not a secure context by itself.
    const user = userEvent.setup();
    vi.stubGlobal("isSecureContext", true);
    const router = renderPanel();

    expect(await screen.findByText("You have no PostgreSQL profile yet")).toBeTruthy();
    expect(screen.queryByText(/and your organization has no default one/)).toBeNull();
    const code = await screen.findByLabelText("connect_orders.py, python code");
    expect(code.querySelector(".hljs-keyword")?.textContent).toBe("import");
    // The catalog says "postgres": the profiles asked for are PostgreSQL ones.
    expect(calls.some((c) => c.url.includes("platform=postgresql"))).toBe(true);
    // Viewers cannot run live tests; the button says why.
    expect(screen.getByRole("button", { name: /Test connection/ }).getAttribute("title")).toMatch(/producer, steward or admin/);

    // Showing the code is not a connect: only the preview (GET) was asked for.
    const connects = () => calls.filter((c) => c.url === "/api/datasets/d1/connect");
    expect(connects().map((c) => c.method)).toEqual(["GET"]);

    await user.click(screen.getByRole("button", { name: "Copy connect_orders.py" }));
    expect(await screen.findByText("Copied to clipboard")).toBeTruthy();
    expect(await navigator.clipboard.readText()).toBe(PY);
    // Copying is the connect, for that artifact.
    await waitFor(() => expect(connects().filter((c) => c.method === "POST")).toHaveLength(1));
    expect(connects()[1]?.body).toEqual({ profile_id: null, action: "copy", kinds: ["python"] });

    await user.click(screen.getByRole("tab", { name: "SQL" }));
    expect(screen.getByLabelText("query.sql, sql code").textContent).toBe("SELECT 1");
    // Downloading the file is a connect too; switching tabs was not.
    vi.stubGlobal("URL", Object.assign(URL, { createObjectURL: () => "blob:x", revokeObjectURL: () => {} }));
    await user.click(screen.getByRole("button", { name: "Download query.sql" }));
    await waitFor(() => expect(connects().filter((c) => c.method === "POST")).toHaveLength(2));
    expect(connects()[2]?.body).toEqual({ profile_id: null, action: "download", kinds: ["sql"] });

    await user.click(screen.getByRole("link", { name: /Create a PostgreSQL profile/ }));
    await waitFor(() => expect(router.state.location.pathname).toBe("/profiles"));
    expect(router.state.location.search).toBe("?new=postgresql");
  });

  it("a platform Connect does not cover gets an explanation, not a request", async () => {
    const calls = mockFetch((call) => (call.url === "/api/auth/me" ? json(ME) : problem(404, {})));
    renderPanel({ ...DS, platform: "kafka" } as Dataset);
    expect(await screen.findByText("No Connect code for Kafka yet")).toBeTruthy();
    expect(calls.some((c) => c.url.includes("/connect"))).toBe(false);
  });
});
