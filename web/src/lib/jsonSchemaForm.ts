/**
 * Form fields from a connector's JSON Schema (the subset connectors use): strings, integers,
 * numbers, booleans, enums, "enum or free text", "a code or a list of codes", string maps.
 * Anything else is edited as JSON. The server validates again; its messages land on the fields.
 */

type Schema = Record<string, unknown>;

export type FieldKind = "string" | "integer" | "number" | "boolean" | "enum" | "suggest" | "intlist" | "map" | "json";

export interface FormField {
  key: string;
  kind: FieldKind;
  title: string;
  description?: string;
  required: boolean;
  default?: unknown;
  options?: string[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  format?: string;
}

export interface MapEntry {
  key: string;
  value: string;
}

export type FieldValue = string | boolean | MapEntry[];
export type FormValues = Record<string, FieldValue>;

function obj(v: unknown): Schema | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Schema) : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" ? v : undefined;
}

function humanise(key: string): string {
  const s = key.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function enumOf(s: Schema | undefined): string[] | undefined {
  const e = s?.enum;
  return Array.isArray(e) ? e.map(String) : undefined;
}

function classify(prop: Schema): Pick<FormField, "kind" | "options" | "minimum" | "maximum"> {
  const options = enumOf(prop);
  if (options) return { kind: "enum", options };
  const branches = Array.isArray(prop.anyOf) ? prop.anyOf.map(obj).filter((b): b is Schema => !!b) : [];
  if (branches.length) {
    const enumBranch = branches.find((b) => enumOf(b));
    const stringBranch = branches.find((b) => b.type === "string");
    if (enumBranch && stringBranch) return { kind: "suggest", options: enumOf(enumBranch) };
    const intBranch = branches.find((b) => b.type === "integer");
    const arrayBranch = branches.find((b) => b.type === "array" && obj(b.items)?.type === "integer");
    if (intBranch && arrayBranch) return { kind: "intlist", minimum: num(intBranch.minimum), maximum: num(intBranch.maximum) };
    if (stringBranch && branches.length === 1) return { kind: "string" };
    return { kind: "json" };
  }
  switch (prop.type) {
    case "string":
      return { kind: "string" };
    case "integer":
      return { kind: "integer", minimum: num(prop.minimum), maximum: num(prop.maximum) };
    case "number":
      return { kind: "number", minimum: num(prop.minimum), maximum: num(prop.maximum) };
    case "boolean":
      return { kind: "boolean" };
    case "object": {
      const extra = obj(prop.additionalProperties);
      if (extra?.type === "string" && !prop.properties) return { kind: "map" };
      return { kind: "json" };
    }
    default:
      return { kind: "json" };
  }
}

export function fieldsFromSchema(schema: Schema | undefined | null): FormField[] {
  const props = obj(schema?.properties) ?? {};
  const required = new Set(Array.isArray(schema?.required) ? schema.required.map(String) : []);
  return Object.entries(props).map(([key, raw]) => {
    const prop = obj(raw) ?? {};
    const c = classify(prop);
    return {
      key,
      ...c,
      title: typeof prop.title === "string" ? prop.title : humanise(key),
      description: typeof prop.description === "string" ? prop.description : undefined,
      required: required.has(key),
      default: prop.default,
      maxLength: num(prop.maxLength),
      format: typeof prop.format === "string" ? prop.format : undefined,
    };
  });
}

function toText(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "object") return JSON.stringify(v, null, 2);
  return String(v);
}

/** Form values for a config (a saved node's, or empty for a new one: defaults stay as hints). */
export function initialValues(fields: FormField[], config: Record<string, unknown> = {}): FormValues {
  const out: FormValues = {};
  for (const f of fields) {
    const v = config[f.key];
    if (f.kind === "boolean") out[f.key] = v === undefined ? f.default === true : v === true;
    else if (f.kind === "map") {
      const m = obj(v) ?? {};
      out[f.key] = Object.entries(m).map(([key, value]) => ({ key, value: String(value) }));
    } else if (f.kind === "enum") out[f.key] = v === undefined ? (f.default === undefined ? "" : String(f.default)) : String(v);
    else out[f.key] = toText(v);
  }
  return out;
}

/** The config object for the API, plus client-side messages (required, numbers). */
export function toConfig(
  fields: FormField[],
  values: FormValues,
): { config: Record<string, unknown>; errors: Record<string, string> } {
  const config: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const f of fields) {
    const v = values[f.key];
    if (f.kind === "boolean") {
      config[f.key] = v === true;
      continue;
    }
    if (f.kind === "map") {
      const entries = (Array.isArray(v) ? v : []).filter((e) => e.key.trim() || e.value.trim());
      if (entries.some((e) => !e.key.trim())) errors[f.key] = "Every value needs a name.";
      if (entries.length) config[f.key] = Object.fromEntries(entries.map((e) => [e.key.trim(), e.value]));
      continue;
    }
    const text = typeof v === "string" ? v.trim() : "";
    if (!text) {
      if (f.required) errors[f.key] = `${f.title} is required.`;
      continue;
    }
    const range = (n: number) =>
      (f.minimum !== undefined && n < f.minimum) || (f.maximum !== undefined && n > f.maximum)
        ? `Must be between ${f.minimum ?? "−∞"} and ${f.maximum ?? "∞"}.`
        : null;
    if (f.kind === "integer" || f.kind === "number") {
      const n = Number(text);
      if (!Number.isFinite(n) || (f.kind === "integer" && !Number.isInteger(n))) {
        errors[f.key] = f.kind === "integer" ? "Enter a whole number." : "Enter a number.";
        continue;
      }
      const bad = range(n);
      if (bad) errors[f.key] = bad;
      config[f.key] = n;
    } else if (f.kind === "intlist") {
      const parts = text.split(/[\s,]+/).filter(Boolean);
      const nums = parts.map(Number);
      if (nums.some((n) => !Number.isInteger(n))) {
        errors[f.key] = "Enter whole numbers separated by commas.";
        continue;
      }
      const bad = nums.map(range).find(Boolean);
      if (bad) errors[f.key] = bad;
      config[f.key] = nums.length === 1 ? nums[0] : nums;
    } else if (f.kind === "json") {
      try {
        config[f.key] = JSON.parse(text);
      } catch {
        errors[f.key] = "Enter valid JSON.";
      }
    } else {
      config[f.key] = text;
    }
  }
  return { config, errors };
}

/* Secret references ------------------------------------------------------------------------- */

export const SECRET_REF_HINT = "A reference, never the secret: env:NAME, file:/path or vault:mount/path#key";
const SECRET_REF = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/\S+|vault:[^\s#]+#\S+)$/;

export function isSecretRef(value: string): boolean {
  return SECRET_REF.test(value.trim());
}

export function secretErrors(values: Record<string, string>): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    if (v.trim() && !isSecretRef(v)) errors[k] = "Enter a reference such as env:PG_PASSWORD, not the secret itself.";
  }
  return errors;
}

/**
 * Field key of a server error: `config.headers.X-Token` → `config.headers`. `section` names the
 * object the schema fields live in (`config` on nodes, `settings` on profiles).
 */
export function errorFieldKey(field: string, section = "config"): string {
  const parts = field.split(".");
  if ((parts[0] === section || parts[0] === "secrets") && parts.length > 2) return `${parts[0]}.${parts[1]}`;
  return field;
}

/** A PATCH part for a saved map: PATCH merges, so each saved key that is gone is sent as null. */
export function mergePatch<T>(next: Record<string, T>, saved: Record<string, unknown>): Record<string, T | null> {
  const patch: Record<string, T | null> = { ...next };
  for (const k of Object.keys(saved)) if (!(k in next)) patch[k] = null;
  return patch;
}

/** A one-line summary of where a node points (for cards). */
export function targetSummary(config: Record<string, unknown>): string {
  const s = (k: string) => (typeof config[k] === "string" || typeof config[k] === "number" ? String(config[k]) : "");
  if (s("url")) return s("url");
  if (s("host")) return `${s("host")}${s("port") ? `:${s("port")}` : ""}${s("database") ? `/${s("database")}` : ""}`;
  if (s("workspace_host")) return s("workspace_host");
  if (s("account")) return `${s("account")}${s("warehouse") ? ` · ${s("warehouse")}` : ""}`;
  if (s("project")) return s("project");
  if (s("workgroup")) return s("workgroup");
  const first = Object.values(config).find((v) => typeof v === "string");
  return typeof first === "string" ? first : "";
}
