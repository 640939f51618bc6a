import { describe, expect, it } from "vitest";
import { safeNext } from "./auth";

describe("safeNext", () => {
  it.each([
    ["/admin/users", "/admin/users"],
    ["/catalog?q=orders", "/catalog?q=orders"],
    [null, "/catalog"],
    ["https://evil.example/", "/catalog"],
    ["//evil.example/", "/catalog"],
    ["/\\evil.example", "/catalog"],
    ["/login?next=/x", "/catalog"],
    ["/api/auth/logout", "/catalog"],
  ])("%s -> %s", (input, expected) => {
    expect(safeNext(input)).toBe(expected);
  });
});
