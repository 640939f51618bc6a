import { QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useEffect, useState } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/errors";
import { createQueryClient } from "../api/queries";
import { json, mockFetch, problem } from "../test/helpers";
import { SchemaSettings, useSchemaSettings, type SavedSettings, type SchemaSettingsState } from "./SchemaSettings";

const HTTP = {
  type: "http",
  title: "HTTP API",
  description: "Any HTTP endpoint",
  capabilities: { test_connection: true },
  secret_fields: [{ name: "token", required: false, description: "Bearer token" }],
  config_schema_ref: "/api/connectors/http",
  config_schema: {
    type: "object",
    required: ["url"],
    properties: {
      url: { type: "string", title: "URL", format: "uri" },
      headers: { type: "object", title: "Extra headers", additionalProperties: { type: "string" } },
      port: { type: "integer", title: "Port", minimum: 1, maximum: 65535 },
    },
  },
};

function fieldError(field: string, msg: string) {
  return { loc: field.split("."), field, msg, type: "value_error" };
}

interface Got {
  current: SchemaSettingsState | null;
  unplaced?: boolean;
}

/** A form around the section: the test reads its state through `report`. */
function Harness({
  type,
  saved,
  serverError,
  onEdit,
  report,
}: {
  type: string;
  saved: SavedSettings | null;
  serverError?: unknown;
  onEdit?: () => void;
  report: (settings: SchemaSettingsState, unplaced: boolean) => void;
}) {
  const settings = useSchemaSettings(type, "config", saved);
  const [clientErrors, setClientErrors] = useState<Record<string, string>>({});
  const { placed, unplaced } = settings.placeErrors(serverError, (key) => key === "name");
  useEffect(() => report(settings, unplaced));
  const err = (key: string) => clientErrors[key] ?? placed[key];
  return (
    <form>
      <SchemaSettings settings={settings} err={err} onEdit={onEdit} secretsHint="The server resolves it when it connects.">
        <p>Extra section</p>
      </SchemaSettings>
      <button type="button" onClick={() => setClientErrors(settings.collect().errors)}>
        Check
      </button>
    </form>
  );
}

function renderHarness(props: Omit<Parameters<typeof Harness>[0], "report">) {
  const qc = createQueryClient();
  qc.setDefaultOptions({ queries: { retry: false } });
  const got: Got = { current: null };
  const report = (settings: SchemaSettingsState, unplaced: boolean) => {
    got.current = settings;
    got.unplaced = unplaced;
  };
  const view = render(
    <QueryClientProvider client={qc}>
      <Harness {...props} report={report} />
    </QueryClientProvider>,
  );
  return { got, view };
}

describe("SchemaSettings", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("draws nothing until a connector type is chosen", () => {
    const calls = mockFetch(() => json(HTTP));
    const { view } = renderHarness({ type: "", saved: null });
    expect(view.container.querySelector("section")).toBeNull();
    expect(calls).toHaveLength(0);
  });

  it("builds the fields from the schema, seeded from the saved config, and collects references", async () => {
    mockFetch((call) => (call.url === "/api/connectors/http" ? json(HTTP) : problem(404, {})));
    const onEdit = vi.fn();
    const { got } = renderHarness({
      type: "http",
      saved: { type: "http", config: { url: "https://api.example.com" }, secrets: { token: "env:HTTP_TOKEN" } },
      onEdit,
    });

    expect(await screen.findByRole("heading", { name: "Settings" })).toBeTruthy();
    expect(screen.getByRole("heading", { name: "Secrets" })).toBeTruthy();
    expect(screen.getByText(/never the secret: env:NAME.*\. The server resolves it when it connects\.$/)).toBeTruthy();
    expect(screen.getByText("Extra section")).toBeTruthy();
    expect(screen.getByLabelText<HTMLInputElement>(/^URL/).value).toBe("https://api.example.com");
    expect(screen.getByRole("group", { name: /Extra headers/ })).toBeTruthy();
    const token = screen.getByLabelText<HTMLInputElement>(/^Token/);
    expect(token.value).toBe("env:HTTP_TOKEN");
    expect(token.placeholder).toBe("env:HTTP_TOKEN");

    const user = userEvent.setup();
    await user.clear(token);
    await user.type(token, "hunter2");
    await user.type(screen.getByLabelText(/^Port/), "0");
    expect(onEdit).toHaveBeenCalled();
    await user.click(screen.getByRole("button", { name: "Check" }));
    expect(screen.getByLabelText(/^Token/).getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByText("Enter a reference such as env:PG_PASSWORD, not the secret itself.")).toBeTruthy();
    expect(got.current?.collect().errors).toEqual({
      "config.port": "Must be between 1 and 65535.",
      "secrets.token": "Enter a reference such as env:PG_PASSWORD, not the secret itself.",
    });

    await user.clear(screen.getByLabelText(/^Token/));
    await user.type(screen.getByLabelText(/^Token/), "  env:API_TOKEN ");
    await user.clear(screen.getByLabelText(/^Port/));
    expect(got.current?.collect()).toEqual({
      config: { url: "https://api.example.com" },
      secrets: { token: "env:API_TOKEN" },
      errors: {},
    });
  });

  it("does not seed a saved config of another type", async () => {
    mockFetch(() => json(HTTP));
    renderHarness({ type: "http", saved: { type: "postgresql", config: { url: "https://old" }, secrets: {} } });
    expect((await screen.findByLabelText<HTMLInputElement>(/^URL/)).value).toBe("");
  });

  it("puts server messages on their fields and tells what has no field", async () => {
    mockFetch(() => json(HTTP));
    const serverError = new ApiError({
      status: 422,
      title: "Invalid",
      errors: [fieldError("config.headers.X-Token", "Not allowed"), fieldError("secrets.token", "Unknown reference")],
    });
    const { got } = renderHarness({ type: "http", saved: null, serverError });
    expect(await screen.findByText("X-Token: Not allowed")).toBeTruthy();
    expect(screen.getByText("Unknown reference")).toBeTruthy();
    expect(got.unplaced).toBe(false);

    const stray = new ApiError({ status: 422, title: "Invalid", errors: [fieldError("config.nope", "What?")] });
    expect(got.current?.placeErrors(stray, () => false)).toEqual({ placed: {}, unplaced: true });
    expect(got.current?.placeErrors(new ApiError({ status: 409, title: "Conflict" }), () => false).unplaced).toBe(true);
    expect(got.current?.placeErrors(null, () => false)).toEqual({ placed: {}, unplaced: false });
  });

  it("offers a retry when the schema does not load", async () => {
    mockFetch(() => problem(404, { title: "No such connector type" }));
    renderHarness({ type: "nope", saved: null });
    expect(await screen.findByText("No such connector type")).toBeTruthy();
    expect(screen.queryByRole("heading", { name: "Settings" })).toBeNull();
  });
});
