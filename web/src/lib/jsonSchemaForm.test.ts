import { describe, expect, it } from "vitest";
import {
  errorFieldKey,
  fieldsFromSchema,
  initialValues,
  isSecretRef,
  mergePatch,
  secretErrors,
  targetSummary,
  toConfig,
} from "./jsonSchemaForm";

const HTTP = {
  type: "object",
  required: ["url"],
  properties: {
    url: { type: "string", title: "URL", format: "uri" },
    method: { enum: ["GET", "HEAD", "POST"], title: "Method", default: "GET" },
    expected_status: {
      title: "Expected status",
      default: 200,
      anyOf: [
        { type: "integer", minimum: 100, maximum: 599 },
        { type: "array", items: { type: "integer", minimum: 100, maximum: 599 } },
      ],
    },
    headers: { type: "object", title: "Extra headers", additionalProperties: { type: "string" } },
    port: { type: "integer", minimum: 1, maximum: 65535, default: 5432 },
    iam: { type: "boolean", title: "IAM", default: false },
    authenticator: { anyOf: [{ enum: ["snowflake", "oauth"] }, { type: "string" }] },
  },
};

describe("fieldsFromSchema", () => {
  it("maps schema properties to form fields", () => {
    const fields = fieldsFromSchema(HTTP);
    expect(fields.map((f) => [f.key, f.kind, f.required])).toEqual([
      ["url", "string", true],
      ["method", "enum", false],
      ["expected_status", "intlist", false],
      ["headers", "map", false],
      ["port", "integer", false],
      ["iam", "boolean", false],
      ["authenticator", "suggest", false],
    ]);
    expect(fields[4]?.title).toBe("Port");
  });
});

describe("toConfig", () => {
  const fields = fieldsFromSchema(HTTP);

  it("builds the config from values, leaving empty optional fields out", () => {
    const values = initialValues(fields, {});
    values.url = " https://api.example.com/health ";
    values.expected_status = "200, 204";
    values.headers = [{ key: "X-Env", value: "prod" }];
    const { config, errors } = toConfig(fields, values);
    expect(errors).toEqual({});
    expect(config).toEqual({
      url: "https://api.example.com/health",
      method: "GET",
      expected_status: [200, 204],
      headers: { "X-Env": "prod" },
      iam: false,
    });
  });

  it("checks required fields and numbers", () => {
    const values = initialValues(fields, {});
    values.port = "99999";
    values.expected_status = "abc";
    const { errors } = toConfig(fields, values);
    expect(errors.url).toBe("URL is required.");
    expect(errors.port).toMatch(/between 1 and 65535/);
    expect(errors.expected_status).toMatch(/whole numbers/);
  });

  it("round-trips a saved config", () => {
    const saved = { url: "https://x", expected_status: 201, headers: { A: "b" }, port: 5439, iam: true };
    const { config } = toConfig(fields, initialValues(fields, saved));
    expect(config).toMatchObject(saved);
  });
});

describe("secrets", () => {
  it("accepts references only", () => {
    expect(isSecretRef("env:PG_PASSWORD")).toBe(true);
    expect(isSecretRef("file:/run/secrets/pg")).toBe(true);
    expect(isSecretRef("vault:kv/data/pg#password")).toBe(true);
    expect(isSecretRef("hunter2")).toBe(false);
    expect(secretErrors({ password: "hunter2", token: "" })).toEqual({
      password: "Enter a reference such as env:PG_PASSWORD, not the secret itself.",
    });
  });

  it("maps server error fields to form fields", () => {
    expect(errorFieldKey("config.headers.X-Token")).toBe("config.headers");
    expect(errorFieldKey("config.url")).toBe("config.url");
    expect(errorFieldKey("name")).toBe("name");
    expect(errorFieldKey("settings.headers.X-Token", "settings")).toBe("settings.headers");
    expect(errorFieldKey("secrets.password.0", "settings")).toBe("secrets.password");
    expect(errorFieldKey("config.headers.X-Token", "settings")).toBe("config.headers.X-Token");
  });

  it("sends keys that are gone as null in a PATCH", () => {
    expect(mergePatch({ url: "https://x", port: 5432 }, { url: "https://old", headers: { A: "b" } })).toEqual({
      url: "https://x",
      port: 5432,
      headers: null,
    });
    expect(mergePatch({}, {})).toEqual({});
  });

  it("summarises the target", () => {
    expect(targetSummary({ host: "db", port: 5432, database: "shop" })).toBe("db:5432/shop");
    expect(targetSummary({ url: "https://x" })).toBe("https://x");
  });
});
