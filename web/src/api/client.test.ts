import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api, buildUrl, onUnauthorized, readCookie, request } from "./client";
import { ApiError } from "./errors";
import { json, mockFetch, problem } from "../test/helpers";

function setCookie(name: string, value: string) {
  document.cookie = `${name}=${value}; path=/`;
}

describe("api client", () => {
  beforeEach(() => setCookie("dm_csrf", "csrf-123"));
  afterEach(() => vi.unstubAllGlobals());

  it("sends cookies and no CSRF header on safe methods", async () => {
    const calls = mockFetch(() => json({ ok: true }));
    await api.get("/api/auth/me");
    expect(calls[0]!.credentials).toBe("same-origin");
    expect(calls[0]!.headers["x-csrf-token"]).toBeUndefined();
  });

  it.each(["POST", "PATCH", "DELETE"] as const)("adds X-CSRF-Token from the dm_csrf cookie on %s", async (method) => {
    const calls = mockFetch(() => new Response(null, { status: 204 }));
    await request("/api/orgs/1", { method, body: method === "DELETE" ? undefined : { name: "x" } });
    expect(calls[0]!.headers["x-csrf-token"]).toBe("csrf-123");
    expect(calls[0]!.credentials).toBe("same-origin");
  });

  it("on 401 refreshes once with an empty JSON body, then retries with the rotated CSRF cookie", async () => {
    let meCalls = 0;
    const calls = mockFetch((call) => {
      if (call.url === "/api/auth/refresh") {
        setCookie("dm_csrf", "rotated-456");
        return json({ access_token: "ignored", expires_in: 900, refresh_token: "ignored" });
      }
      meCalls += 1;
      return meCalls === 1 ? problem(401, { title: "Authentication required" }) : json({ id: "u1" });
    });
    const result = await api.patch<{ id: string }>("/api/auth/users/u1", { name: "N" });
    expect(result).toEqual({ id: "u1" });
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      "PATCH /api/auth/users/u1",
      "POST /api/auth/refresh",
      "PATCH /api/auth/users/u1",
    ]);
    expect(calls[1]!.body).toEqual({});
    expect(calls[2]!.headers["x-csrf-token"]).toBe("rotated-456");
  });

  it("shares one refresh between concurrent 401s", async () => {
    let refreshed = false;
    const calls = mockFetch(async (call) => {
      if (call.url === "/api/auth/refresh") {
        await new Promise((r) => setTimeout(r, 10));
        refreshed = true;
        return json({});
      }
      return refreshed ? json({ url: call.url }) : problem(401, {});
    });
    await Promise.all([api.get("/api/a"), api.get("/api/b"), api.get("/api/c")]);
    expect(calls.filter((c) => c.url === "/api/auth/refresh")).toHaveLength(1);
  });

  it("when the refresh fails, throws the 401 and tells listeners the session is gone", async () => {
    mockFetch((call) =>
      call.url === "/api/auth/refresh"
        ? problem(401, { detail: "The session has ended; sign in again." })
        : problem(401, { title: "Authentication required", detail: "Sign in." }),
    );
    const listener = vi.fn();
    const off = onUnauthorized(listener);
    await expect(api.get("/api/orgs")).rejects.toMatchObject({ status: 401, detail: "Sign in." });
    expect(listener).toHaveBeenCalledTimes(1);
    off();
  });

  it("does not try to refresh when the login itself answers 401", async () => {
    const calls = mockFetch(() => problem(401, { detail: "The email or password is wrong." }));
    const listener = vi.fn();
    const off = onUnauthorized(listener);
    await expect(api.post("/api/auth/login", { email: "a@b.c", password: "x" })).rejects.toBeInstanceOf(ApiError);
    expect(calls).toHaveLength(1);
    expect(listener).not.toHaveBeenCalled();
    off();
  });

  it("turns a network failure into an ApiError with status 0", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(api.get("/api/orgs")).rejects.toMatchObject({ status: 0, isNetworkError: true });
  });

  it("never touches localStorage or sessionStorage", async () => {
    const setItem = vi.spyOn(Storage.prototype, "setItem");
    mockFetch(() => json({ access_token: "secret", refresh_token: "secret2", expires_in: 900 }));
    await api.post("/api/auth/login", { email: "a@b.c", password: "pw" });
    expect(setItem).not.toHaveBeenCalled();
  });
});

describe("helpers", () => {
  it("reads a cookie among others and decodes it", () => {
    expect(readCookie("dm_csrf", "a=1; dm_csrf=abc%3D%3D; b=2")).toBe("abc==");
    expect(readCookie("missing", "a=1")).toBeNull();
  });

  it("builds query strings with repeated keys and skips empty values", () => {
    expect(buildUrl("/api/datasets", { query: "ord", platform: ["snowflake", "s3"], cursor: null, domain: [] })).toBe(
      "/api/datasets?query=ord&platform=snowflake&platform=s3",
    );
  });
});
