/**
 * The settings part of a form built from a connector type's JSON Schema: one field per schema
 * property, the type's secrets as references (env:, file:, vault:), client checks and server field
 * errors (problem+json) keyed like the API's paths. Node and platform profile forms share it:
 * `useSchemaSettings` holds the state, `SchemaSettings` draws the sections.
 */
import { useQuery } from "@tanstack/react-query";
import { useId, useState, type ReactNode } from "react";
import { connectorsApi } from "../api/endpoints";
import { isApiError } from "../api/errors";
import {
  SECRET_REF_HINT,
  errorFieldKey,
  fieldsFromSchema,
  initialValues,
  secretErrors,
  toConfig,
  type FieldValue,
  type FormField,
  type FormValues,
  type MapEntry,
} from "../lib/jsonSchemaForm";
import { CloseIcon, KeyIcon, PlusIcon } from "./icons";
import { Button, Checkbox, ErrorAlert, SelectField, Skeleton, TextAreaField, TextField } from "./ui";

function MapEditor({
  field,
  value,
  onChange,
  error,
}: {
  field: FormField;
  value: MapEntry[];
  onChange: (v: MapEntry[]) => void;
  error?: string;
}) {
  const id = useId();
  const noun = field.key === "headers" ? "header" : "entry";
  const set = (i: number, patch: Partial<MapEntry>) => onChange(value.map((e, j) => (j === i ? { ...e, ...patch } : e)));
  return (
    <fieldset className="field field--wide map-editor" aria-describedby={error ? `${id}-error` : undefined}>
      <legend className="field__label">
        {field.title}
        {!field.required ? <span className="field__optional">(optional)</span> : null}
      </legend>
      {value.map((entry, i) => (
        <div className="map-editor__row" key={i}>
          <input
            className="input input--mono"
            aria-label={`${field.title}: name ${i + 1}`}
            placeholder="Name"
            value={entry.key}
            onChange={(e) => set(i, { key: e.target.value })}
            aria-invalid={error ? true : undefined}
          />
          <input
            className="input input--mono"
            aria-label={`${field.title}: value ${i + 1}`}
            placeholder="Value"
            value={entry.value}
            onChange={(e) => set(i, { value: e.target.value })}
          />
          <Button
            variant="ghost"
            icon
            size="sm"
            aria-label={`Remove ${noun} ${entry.key || i + 1}`}
            onClick={() => onChange(value.filter((_e, j) => j !== i))}
          >
            <CloseIcon />
          </Button>
        </div>
      ))}
      <div>
        <Button size="sm" variant="ghost" onClick={() => onChange([...value, { key: "", value: "" }])}>
          <PlusIcon /> Add {noun}
        </Button>
      </div>
      {error ? (
        <div className="field__error" id={`${id}-error`}>
          <span>{error}</span>
        </div>
      ) : null}
      {field.description ? <div className="field__hint">{field.description}</div> : null}
    </fieldset>
  );
}

function SchemaField({
  field,
  value,
  onChange,
  error,
}: {
  field: FormField;
  value: FieldValue | undefined;
  onChange: (v: FieldValue) => void;
  error?: string;
}) {
  const listId = useId();
  const optional = !field.required;
  const text = typeof value === "string" ? value : "";
  const placeholder = field.default !== undefined && typeof field.default !== "object" ? String(field.default) : undefined;
  const name = `config.${field.key}`;
  switch (field.kind) {
    case "boolean":
      return (
        <Checkbox
          label={field.title}
          description={field.description}
          name={name}
          checked={value === true}
          onChange={(e) => onChange(e.target.checked)}
          error={error}
        />
      );
    case "enum":
      return (
        <SelectField
          label={field.title}
          hint={field.description}
          optional={optional}
          name={name}
          value={text}
          onChange={(e) => onChange(e.target.value)}
          error={error}
        >
          {field.required && field.default === undefined ? <option value="">Choose…</option> : null}
          {!field.required && field.default === undefined ? <option value="">—</option> : null}
          {(field.options ?? []).map((o) => (
            <option key={o} value={o}>
              {o}
              {field.default === o ? " (default)" : ""}
            </option>
          ))}
        </SelectField>
      );
    case "map":
      return <MapEditor field={field} value={Array.isArray(value) ? value : []} onChange={onChange} error={error} />;
    case "json":
      return (
        <TextAreaField
          label={field.title}
          hint={field.description ?? "JSON"}
          optional={optional}
          wide
          rows={3}
          name={name}
          className="textarea input--mono"
          value={text}
          onChange={(e) => onChange(e.target.value)}
          error={error}
        />
      );
    default: {
      const numeric = field.kind === "integer" || field.kind === "number";
      const wide = field.format === "uri" || (field.maxLength ?? 0) > 300 || field.kind === "suggest";
      return (
        <>
          <TextField
            label={field.title}
            hint={field.kind === "intlist" ? `${field.description ?? ""} Separate several with commas.`.trim() : field.description}
            optional={optional}
            wide={wide}
            name={name}
            mono={field.format === "uri" || field.kind === "suggest"}
            inputMode={numeric || field.kind === "intlist" ? "numeric" : undefined}
            type={field.format === "uri" ? "url" : "text"}
            placeholder={placeholder}
            list={field.kind === "suggest" ? listId : undefined}
            value={text}
            onChange={(e) => onChange(e.target.value)}
            error={error}
            spellCheck={false}
            autoComplete="off"
          />
          {field.kind === "suggest" ? (
            <datalist id={listId}>
              {(field.options ?? []).map((o) => (
                <option key={o} value={o}>
                  {o}
                </option>
              ))}
            </datalist>
          ) : null}
        </>
      );
    }
  }
}

/** What a form saved before: its connector type, schema values and secret references. */
export interface SavedSettings {
  type: string;
  config: Record<string, unknown>;
  secrets: Record<string, string>;
}

/**
 * State of the schema settings of a form. `section` is where the values go in the API body
 * (`config` or `settings`); errors are keyed `<section>.<field>` and `secrets.<name>`.
 */
export function useSchemaSettings(type: string, section: string, saved: SavedSettings | null) {
  const [values, setValues] = useState<FormValues>({});
  const [secrets, setSecrets] = useState<Record<string, string>>({ ...(saved?.secrets ?? {}) });
  const [seeded, setSeeded] = useState<string | null>(null);

  const detail = useQuery({
    queryKey: ["connectors", type],
    queryFn: ({ signal }) => connectorsApi.get(type, signal),
    enabled: !!type,
    staleTime: 10 * 60_000,
  });
  const fields = fieldsFromSchema(detail.data?.config_schema);
  const secretFields = detail.data?.secret_fields ?? [];

  // Fill the form once the type's schema is known (and again if the type changes).
  if (detail.data && seeded !== type) {
    setSeeded(type);
    setValues(initialValues(fields, saved?.type === type ? saved.config : {}));
  }

  /** The values and secret references to send, with client-side messages. */
  const collect = () => {
    const { config, errors: fieldErrors } = toConfig(fields, values);
    const errors: Record<string, string> = {};
    for (const [k, v] of Object.entries(fieldErrors)) errors[`${section}.${k}`] = v;
    for (const [k, v] of Object.entries(secretErrors(secrets))) errors[`secrets.${k}`] = v;
    const refs = Object.fromEntries(
      Object.entries(secrets)
        .map(([k, v]) => [k, v.trim()] as const)
        .filter(([, v]) => v),
    );
    return { config, secrets: refs, errors };
  };

  /**
   * Server messages next to their fields (`isTop` tells the form's own fields); `unplaced` when
   * some message has no field here, so the form shows them in an alert.
   */
  const placeErrors = (error: unknown, isTop: (key: string) => boolean) => {
    const placed: Record<string, string> = {};
    let unplaced = false;
    if (isApiError(error)) {
      for (const e of error.errors) {
        const key = errorFieldKey(e.field, section);
        const known =
          isTop(key) ||
          (key.startsWith(`${section}.`) && fields.some((f) => `${section}.${f.key}` === key)) ||
          (key.startsWith("secrets.") && secretFields.some((f) => `secrets.${f.name}` === key));
        const label = e.field !== key ? `${e.field.slice(key.length + 1)}: ${e.msg}` : e.msg;
        if (known) placed[key] ??= label;
        else unplaced = true;
      }
      if (!error.errors.length) unplaced = true;
    }
    return { placed, unplaced };
  };

  return {
    type,
    section,
    detail,
    fields,
    secretFields,
    values,
    setValue: (key: string, v: FieldValue) => setValues((all) => ({ ...all, [key]: v })),
    secrets,
    setSecret: (name: string, v: string) => setSecrets((all) => ({ ...all, [name]: v })),
    /** Forget the secret references (when the connector type changes). */
    clearSecrets: () => setSecrets({}),
    collect,
    placeErrors,
  };
}

export type SchemaSettingsState = ReturnType<typeof useSchemaSettings>;

function humanise(name: string): string {
  return name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

/**
 * The Settings and Secrets sections (nothing until a type is chosen; a placeholder while its
 * schema loads). `children` are further sections shown once the schema is there.
 */
export function SchemaSettings({
  settings,
  err,
  onEdit,
  secretsHint,
  children,
}: {
  settings: SchemaSettingsState;
  /** The message for a field key (client or server). */
  err: (key: string) => string | undefined;
  /** Called after each change of a value or secret. */
  onEdit?: () => void;
  /** What happens to the secret references, after the reference hint. */
  secretsHint: string;
  children?: ReactNode;
}) {
  const id = useId();
  const { type, section, detail, fields, secretFields, values, secrets } = settings;
  if (!type) return null;
  if (detail.isPending) {
    return (
      <div style={{ display: "grid", gap: 10 }} aria-hidden="true">
        <Skeleton width="30%" />
        <Skeleton height={36} />
        <Skeleton height={36} />
      </div>
    );
  }
  if (detail.isError) return <ErrorAlert error={detail.error} onRetry={() => detail.refetch()} />;
  return (
    <>
      <section className="form-section" aria-labelledby={`${id}-settings`}>
        <h3 className="form-section__title" id={`${id}-settings`}>
          Settings
        </h3>
        <div className="form-grid">
          {fields.map((f) => (
            <SchemaField
              key={f.key}
              field={f}
              value={values[f.key]}
              onChange={(v) => {
                settings.setValue(f.key, v);
                onEdit?.();
              }}
              error={err(`${section}.${f.key}`)}
            />
          ))}
        </div>
      </section>
      {secretFields.length ? (
        <section className="form-section" aria-labelledby={`${id}-secrets`}>
          <h3 className="form-section__title" id={`${id}-secrets`}>
            <KeyIcon /> Secrets
          </h3>
          <p className="form-section__hint">
            {SECRET_REF_HINT}. {secretsHint}
          </p>
          <div className="form-grid">
            {secretFields.map((s) => (
              <TextField
                key={s.name}
                label={humanise(s.name)}
                name={`secrets.${s.name}`}
                optional={!s.required}
                mono
                spellCheck={false}
                autoComplete="off"
                placeholder={`env:${type.toUpperCase()}_${s.name.toUpperCase()}`}
                hint={s.description}
                value={secrets[s.name] ?? ""}
                onChange={(e) => {
                  settings.setSecret(s.name, e.target.value);
                  onEdit?.();
                }}
                error={err(`secrets.${s.name}`)}
              />
            ))}
          </div>
        </section>
      ) : null}
      {children}
    </>
  );
}
