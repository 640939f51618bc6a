/** Create or edit a node: the settings form is generated from its connector type's JSON Schema. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState, type FormEvent } from "react";
import { connectorsApi, nodesApi } from "../../api/endpoints";
import { isApiError } from "../../api/errors";
import type { Connector, DataNode, NodeCreate, NodeUpdate, TestResult } from "../../api/types";
import { PlatformTile } from "../../components/datasets";
import { Dialog } from "../../components/Dialog";
import { CheckCircleIcon, CloseIcon, KeyIcon, PlayIcon, PlusIcon, XCircleIcon } from "../../components/icons";
import { useToast } from "../../components/toasts";
import {
  Alert,
  Badge,
  Button,
  Checkbox,
  ErrorAlert,
  SelectField,
  Skeleton,
  TextAreaField,
  TextField,
} from "../../components/ui";
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
} from "../../lib/jsonSchemaForm";
import { parseTags } from "../catalog/PublishDataset";

export const INTERVALS: { value: string; label: string }[] = [
  { value: "", label: "Only when tested by hand" },
  { value: "60", label: "Every minute" },
  { value: "300", label: "Every 5 minutes" },
  { value: "900", label: "Every 15 minutes" },
  { value: "3600", label: "Every hour" },
  { value: "86400", label: "Every day" },
];

export function intervalLabel(seconds: number | null | undefined): string {
  if (!seconds) return "On demand";
  const known = INTERVALS.find((i) => i.value === String(seconds));
  if (known) return known.label;
  if (seconds % 3600 === 0) return `Every ${seconds / 3600} h`;
  if (seconds % 60 === 0) return `Every ${seconds / 60} min`;
  return `Every ${seconds} s`;
}

/** The test outcome, in words and with an icon. */
export function TestOutcome({ result }: { result: TestResult }) {
  const latency = result.latency_ms != null ? ` · ${Math.round(result.latency_ms)} ms` : "";
  if (result.ok) {
    return (
      <div className="test-result test-result--ok" role="status" data-testid="test-result">
        <CheckCircleIcon />
        <div>
          <div className="test-result__title">Connection OK{latency}</div>
          <div className="test-result__detail">{result.message}</div>
        </div>
      </div>
    );
  }
  const unknown = result.status === "unknown";
  return (
    <div className={`test-result test-result--${unknown ? "unknown" : "error"}`} role={unknown ? "status" : "alert"} data-testid="test-result">
      {unknown ? <KeyIcon /> : <XCircleIcon />}
      <div>
        <div className="test-result__title">{unknown ? "Not testable" : `Connection failed${latency}`}</div>
        <div className="test-result__detail">{result.message}</div>
      </div>
    </div>
  );
}

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

export function SchemaField({
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

function TypePicker({
  connectors,
  value,
  onChange,
  error,
}: {
  connectors: Connector[];
  value: string;
  onChange: (type: string) => void;
  error?: string;
}) {
  return (
    <fieldset className="type-picker field--wide">
      <legend className="field__label">Connector type</legend>
      <div className="type-picker__grid">
        {connectors.map((c) => (
          <label key={c.type} className="type-option" data-checked={value === c.type || undefined}>
            <input type="radio" name="type" value={c.type} checked={value === c.type} onChange={() => onChange(c.type)} />
            <PlatformTile platform={c.type} size={32} />
            <span className="type-option__text">
              <span className="type-option__title">{c.title}</span>
              <span className="type-option__desc">{c.description}</span>
            </span>
            {c.capabilities.test_connection ? (
              <Badge tone="success" title="DataMesh can test this connection live">
                Live test
              </Badge>
            ) : null}
          </label>
        ))}
      </div>
      {error ? <div className="field__error">{error}</div> : null}
    </fieldset>
  );
}

const TOP_FIELDS = ["name", "type", "tags", "check_interval_seconds"];

export function NodeFormDialog({
  open,
  node,
  connectors,
  onClose,
  onSaved,
}: {
  open: boolean;
  /** The node to edit; none to create one. */
  node?: DataNode | null;
  connectors: Connector[];
  onClose: () => void;
  onSaved?: (node: DataNode) => void;
}) {
  return (
    <Dialog
      open={open}
      onClose={onClose}
      size="lg"
      title={node ? `Edit ${node.name}` : "New node"}
      description={
        node
          ? "Change where it points or how it is checked. Secrets stay references."
          : "A connection to one of your data platforms. DataMesh stores references to secrets, never the secrets."
      }
    >
      {open ? <NodeForm node={node ?? null} connectors={connectors} onClose={onClose} onSaved={onSaved} /> : null}
    </Dialog>
  );
}

function NodeForm({
  node,
  connectors,
  onClose,
  onSaved,
}: {
  node: DataNode | null;
  connectors: Connector[];
  onClose: () => void;
  onSaved?: (node: DataNode) => void;
}) {
  const qc = useQueryClient();
  const toast = useToast();
  const [type, setType] = useState(node?.type ?? "");
  const [name, setName] = useState(node?.name ?? "");
  const [tags, setTags] = useState((node?.tags ?? []).join(", "));
  const [interval, setCheckInterval] = useState(node?.check_interval_seconds ? String(node.check_interval_seconds) : "");
  const [values, setValues] = useState<FormValues>({});
  const [secrets, setSecrets] = useState<Record<string, string>>({ ...(node?.secrets ?? {}) });
  const [seeded, setSeeded] = useState<string | null>(null);
  const [clientErrors, setClientErrors] = useState<Record<string, string>>({});
  const [result, setResult] = useState<TestResult | null>(null);
  const [dirty, setDirty] = useState(false);

  const detail = useQuery({
    queryKey: ["connectors", type],
    queryFn: ({ signal }) => connectorsApi.get(type, signal),
    enabled: !!type,
    staleTime: 10 * 60_000,
  });
  const fields = fieldsFromSchema(detail.data?.config_schema);
  const connector = detail.data ?? connectors.find((c) => c.type === type);
  const secretFields = connector?.secret_fields ?? [];
  const canTest = !!connector?.capabilities.test_connection;

  // Fill the form once the type's schema is known (and again if the type changes).
  if (detail.data && seeded !== type) {
    setSeeded(type);
    setValues(initialValues(fieldsFromSchema(detail.data.config_schema), node?.type === type ? node.config : {}));
  }

  const touch = () => {
    setDirty(true);
    setResult(null);
  };

  const collect = () => {
    const { config, errors } = toConfig(fields, values);
    const errs: Record<string, string> = {};
    for (const [k, v] of Object.entries(errors)) errs[`config.${k}`] = v;
    for (const [k, v] of Object.entries(secretErrors(secrets))) errs[`secrets.${k}`] = v;
    const secretValues = Object.fromEntries(
      Object.entries(secrets)
        .map(([k, v]) => [k, v.trim()] as const)
        .filter(([, v]) => v),
    );
    return { config, errs, secretValues };
  };

  const test = useMutation({
    mutationFn: async () => {
      const { config, errs, secretValues } = collect();
      setClientErrors(errs);
      if (Object.keys(errs).length) throw new Error("invalid");
      if (node && !dirty) return nodesApi.test(node.id);
      return nodesApi.testUnsaved({ type, config, secrets: secretValues });
    },
    onSuccess: (r) => {
      setResult(r);
      if (node && !dirty) {
        void qc.invalidateQueries({ queryKey: ["nodes"] });
      }
    },
  });

  const save = useMutation({
    mutationFn: async () => {
      const { config, errs, secretValues } = collect();
      if (!name.trim()) errs.name = "Give the node a name.";
      if (!type) errs.type = "Choose a connector type.";
      setClientErrors(errs);
      if (Object.keys(errs).length) throw new Error("invalid");
      const interval_s = interval ? Number(interval) : null;
      if (!node) {
        const body: NodeCreate = {
          name: name.trim(),
          type,
          config,
          secrets: secretValues,
          tags: parseTags(tags),
          check_interval_seconds: interval_s,
        };
        return nodesApi.create(body);
      }
      // PATCH merges: keys that are gone are sent as null.
      const configPatch: Record<string, unknown> = { ...config };
      for (const k of Object.keys(node.config)) if (!(k in config)) configPatch[k] = null;
      const secretPatch: Record<string, string | null> = { ...secretValues };
      for (const k of Object.keys(node.secrets)) if (!(k in secretValues)) secretPatch[k] = null;
      const body: NodeUpdate = {
        name: name.trim(),
        config: configPatch,
        secrets: secretPatch,
        tags: parseTags(tags),
        check_interval_seconds: interval_s,
      };
      return nodesApi.update(node.id, body);
    },
    onSuccess: (saved) => {
      void qc.invalidateQueries({ queryKey: ["nodes"] });
      toast.success(node ? "Node saved" : "Node created", node ? `${saved.name} was updated.` : `${saved.name} is ready. Test it to see its health.`);
      onSaved?.(saved);
      onClose();
    },
  });

  const apiError = [save.error, test.error].find((e) => isApiError(e));
  const serverFields: Record<string, string> = {};
  let unplaced = false;
  if (isApiError(apiError)) {
    for (const e of apiError.errors) {
      const key = errorFieldKey(e.field);
      const known =
        TOP_FIELDS.includes(key.split(".")[0] ?? "") ||
        (key.startsWith("config.") && fields.some((f) => `config.${f.key}` === key)) ||
        (key.startsWith("secrets.") && secretFields.some((f) => `secrets.${f.name}` === key));
      const label = e.field !== key ? `${e.field.slice(key.length + 1)}: ${e.msg}` : e.msg;
      if (known) serverFields[key] ??= label;
      else unplaced = true;
    }
    if (!apiError.errors.length) unplaced = true;
  }
  const err = (key: string) => clientErrors[key] ?? serverFields[key];

  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };

  return (
    <form className="form node-form" onSubmit={submit} noValidate>
      {apiError && unplaced ? <ErrorAlert error={apiError} showFieldErrors /> : null}
      <div className="form-grid">
        <TextField
          label="Name"
          name="name"
          autoFocus
          value={name}
          onChange={(e) => {
            setName(e.target.value);
            setDirty(true);
          }}
          error={err("name")}
          placeholder="e.g. Warehouse (prod)"
        />
        <TextField
          label="Tags"
          name="tags"
          optional
          value={tags}
          onChange={(e) => setTags(e.target.value)}
          error={err("tags")}
          hint="Separate with commas."
        />
        {node ? (
          <div className="field field--wide node-form__type">
            <span className="field__label">Connector type</span>
            <div className="row">
              <PlatformTile platform={node.type} size={28} />
              <strong>{connector?.title ?? node.type}</strong>
              <span className="subtle">(cannot be changed)</span>
            </div>
          </div>
        ) : (
          <TypePicker
            connectors={connectors}
            value={type}
            onChange={(t) => {
              setType(t);
              setResult(null);
              setClientErrors({});
              setSecrets({});
            }}
            error={err("type")}
          />
        )}
      </div>

      {type ? (
        detail.isPending ? (
          <div style={{ display: "grid", gap: 10 }} aria-hidden="true">
            <Skeleton width="30%" />
            <Skeleton height={36} />
            <Skeleton height={36} />
          </div>
        ) : detail.isError ? (
          <ErrorAlert error={detail.error} onRetry={() => detail.refetch()} />
        ) : (
          <>
            <section className="form-section" aria-labelledby="settings-heading">
              <h3 className="form-section__title" id="settings-heading">
                Settings
              </h3>
              <div className="form-grid">
                {fields.map((f) => (
                  <SchemaField
                    key={f.key}
                    field={f}
                    value={values[f.key]}
                    onChange={(v) => {
                      setValues((all) => ({ ...all, [f.key]: v }));
                      touch();
                    }}
                    error={err(`config.${f.key}`)}
                  />
                ))}
              </div>
            </section>
            {secretFields.length ? (
              <section className="form-section" aria-labelledby="secrets-heading">
                <h3 className="form-section__title" id="secrets-heading">
                  <KeyIcon /> Secrets
                </h3>
                <p className="form-section__hint">{SECRET_REF_HINT}. The server resolves it when it connects.</p>
                <div className="form-grid">
                  {secretFields.map((s) => (
                    <TextField
                      key={s.name}
                      label={s.name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase())}
                      name={`secrets.${s.name}`}
                      optional={!s.required}
                      mono
                      spellCheck={false}
                      autoComplete="off"
                      placeholder={`env:${type.toUpperCase()}_${s.name.toUpperCase()}`}
                      hint={s.description}
                      value={secrets[s.name] ?? ""}
                      onChange={(e) => {
                        setSecrets((all) => ({ ...all, [s.name]: e.target.value }));
                        touch();
                      }}
                      error={err(`secrets.${s.name}`)}
                    />
                  ))}
                </div>
              </section>
            ) : null}
            <section className="form-section" aria-labelledby="checks-heading">
              <h3 className="form-section__title" id="checks-heading">
                Health checks
              </h3>
              <div className="form-grid">
                <SelectField
                  label="Check the connection"
                  name="check_interval_seconds"
                  value={interval}
                  onChange={(e) => setCheckInterval(e.target.value)}
                  error={err("check_interval_seconds")}
                  hint="Scheduled checks update its status and tell the feed when it changes."
                >
                  {INTERVALS.map((i) => (
                    <option key={i.value} value={i.value}>
                      {i.label}
                    </option>
                  ))}
                </SelectField>
              </div>
            </section>
          </>
        )
      ) : null}

      <div className="node-form__footer">
        {result ? <TestOutcome result={result} /> : null}
        {test.error && !isApiError(test.error) && Object.keys(clientErrors).length ? (
          <Alert tone="warning" title="Fix the highlighted fields first" />
        ) : null}
        <div className="form-actions form-actions--split">
          <Button
            onClick={() => test.mutate()}
            loading={test.isPending}
            disabled={!type || !canTest || detail.isPending}
            title={type && !canTest ? "This connector type has no live connection test" : undefined}
          >
            <PlayIcon /> Test connection
          </Button>
          <div className="row">
            <Button onClick={onClose}>Cancel</Button>
            <Button type="submit" variant="primary" loading={save.isPending} disabled={!type}>
              {node ? "Save changes" : "Create node"}
            </Button>
          </div>
        </div>
      </div>
    </form>
  );
}
