import { QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "../api/queries";
import { ToastProvider } from "../components/toasts";
import { json, mockFetch, problem } from "../test/helpers";
import { Component as SignIn } from "./SignIn";

function renderAt(url: string) {
  const router = createMemoryRouter(
    [
      { path: "/login", element: <SignIn /> },
      { path: "/catalog", element: <h1>Catalog page</h1> },
      { path: "/admin/users", element: <h1>Users page</h1> },
    ],
    { initialEntries: [url] },
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

const ME = {
  id: "u1",
  kind: "user",
  email: "ada@acme.test",
  name: "Ada",
  role: "admin",
  is_platform_admin: false,
  org: { id: "o1", name: "Acme", slug: "acme" },
};

describe("Sign in", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("offers one link per SSO provider and shows an SSO failure from the URL", async () => {
    mockFetch((call) => {
      if (call.url === "/api/auth/providers")
        return json([{ name: "corp", title: "Corp ID", login_url: "/api/auth/oidc/corp/login" }]);
      return problem(401, {});
    });
    renderAt("/login?error=sso&message=The%20sign-in%20took%20too%20long");
    const link = await screen.findByRole("link", { name: /Sign in with Corp ID/ });
    expect(link.getAttribute("href")).toBe("/api/auth/oidc/corp/login");
    expect(screen.getByText("Single sign-on failed")).toBeTruthy();
    expect(screen.getByText("The sign-in took too long")).toBeTruthy();
  });

  it("shows the server's message for a wrong password, then signs in and goes to `next`", async () => {
    let signedIn = false;
    const calls = mockFetch((call) => {
      if (call.url === "/api/auth/providers") return json([]);
      if (call.url === "/api/auth/me") return signedIn ? json(ME) : problem(401, {});
      if (call.url === "/api/auth/login") {
        const body = call.body as { password: string };
        if (body.password !== "right-password")
          return problem(401, { title: "Authentication required", detail: "The email or password is wrong." });
        signedIn = true;
        return json({ access_token: "a", refresh_token: "r", expires_in: 900, token_type: "bearer" });
      }
      return problem(404, {});
    });
    const router = renderAt("/login?next=%2Fadmin%2Fusers");
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Email"), "ada@acme.test");
    await user.type(screen.getByLabelText("Password"), "wrong");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toContain("The email or password is wrong.");

    await user.clear(screen.getByLabelText("Password"));
    await user.type(screen.getByLabelText("Password"), "right-password");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    await screen.findByText("Users page");
    expect(router.state.location.pathname).toBe("/admin/users");
    expect(calls.filter((c) => c.url === "/api/auth/login").map((c) => c.body)).toEqual([
      { email: "ada@acme.test", password: "wrong" },
      { email: "ada@acme.test", password: "right-password" },
    ]);
  });

  it("shows validation messages next to their fields", async () => {
    mockFetch((call) => {
      if (call.url === "/api/auth/providers") return json([]);
      if (call.url === "/api/auth/login")
        return problem(422, {
          title: "Invalid input",
          errors: [{ loc: ["email"], field: "email", msg: "String should have at least 3 characters", type: "string_too_short" }],
        });
      return problem(401, {});
    });
    renderAt("/login");
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Password"), "pw");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    const email = screen.getByLabelText("Email");
    await waitFor(() => expect(email.getAttribute("aria-invalid")).toBe("true"));
    const describedBy = email.getAttribute("aria-describedby") ?? "";
    expect(document.getElementById(describedBy.split(" ")[0]!)?.textContent).toContain(
      "String should have at least 3 characters",
    );
  });
});
