import { describe, expect, it } from "vitest";
import { ApiError, describeError, errorFromResponse, fieldErrorMap, parseFieldErrors } from "./errors";
import { problem } from "../test/helpers";

describe("errorFromResponse", () => {
  it("maps a problem+json document with field errors", async () => {
    const err = await errorFromResponse(
      problem(422, {
        type: "https://datamesh.dev/problems/validation-error",
        title: "Invalid input",
        detail: "2 fields are invalid",
        errors: [
          { loc: ["email"], field: "email", msg: "value is not a valid email address", type: "value_error" },
          {
            loc: ["settings", "default_visibility"],
            field: "settings.default_visibility",
            msg: "Input should be 'public', 'internal' or 'private'",
            type: "literal_error",
          },
        ],
      }),
    );
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(422);
    expect(err.title).toBe("Invalid input");
    expect(err.detail).toBe("2 fields are invalid");
    expect(err.type).toBe("https://datamesh.dev/problems/validation-error");
    expect(err.errors).toHaveLength(2);
    expect(err.fieldErrors).toEqual({
      email: "Enter a valid email address, like name@company.com.",
      "settings.default_visibility": "Input should be 'public', 'internal' or 'private'",
    });
  });

  it("understands FastAPI's default 422 shape (errors in detail, 'body' prefix)", async () => {
    const res = new Response(
      JSON.stringify({ detail: [{ loc: ["body", "name"], msg: "Field required", type: "missing" }] }),
      { status: 422, headers: { "content-type": "application/json" } },
    );
    const err = await errorFromResponse(res);
    expect(err.errors).toEqual([{ loc: ["name"], field: "name", msg: "Field required", type: "missing" }]);
    expect(err.title).toBe("Invalid input");
    expect(err.detail).toBe("name: Field required");
  });

  it("gives a readable error for a non-JSON failure (proxy HTML page)", async () => {
    const err = await errorFromResponse(new Response("<html>Bad gateway</html>", { status: 502 }));
    expect(err.status).toBe(502);
    expect(err.title).toBe("Bad gateway");
    expect(err.detail).toMatch(/try again/i);
    expect(err.errors).toEqual([]);
  });

  it("keeps the server's 401 detail (wrong password)", async () => {
    const err = await errorFromResponse(
      problem(401, { title: "Authentication required", detail: "The email or password is wrong." }),
    );
    expect(describeError(err)).toEqual({
      title: "Authentication required",
      detail: "The email or password is wrong.",
    });
  });
});

describe("field errors", () => {
  it("rewords developer-facing messages", () => {
    const errors = parseFieldErrors([
      { loc: ["email"], msg: "String should match pattern '^[^@\\s]+@'", type: "string_pattern_mismatch" },
      { loc: ["name"], msg: "Field required", type: "missing" },
    ]);
    expect(fieldErrorMap(errors)).toEqual({
      email: "Enter a valid email address, like name@company.com.",
      name: "This field is required.",
    });
  });

  it("drops entries without a message and keeps the first message per field", () => {
    const errors = parseFieldErrors([
      { loc: ["name"], msg: "Value error, must be lower-case", type: "value_error" },
      { loc: ["name"], msg: "second", type: "x" },
      { loc: ["x"] },
      "garbage",
    ]);
    expect(errors).toHaveLength(2);
    expect(fieldErrorMap(errors)).toEqual({ name: "Must be lower-case" });
  });
});
