/** Create or edit a node: the settings form is generated from its connector type's JSON Schema. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { nodesApi } from "../../api/endpoints";
import { isApiError } from "../../api/errors";
import type { Connector, DataNode, NodeCreate, NodeUpdate, TestResult } from "../../api/types";
import { PlatformTile } from "../../components/datasets";
import { Dialog } from "../../components/Dialog";
import { CheckCircleIcon, KeyIcon, PlayIcon, XCircleIcon } from "../../components/icons";
import { SchemaSettings, useSchemaSettings } from "../../components/SchemaSettings";
import { useToast } from "../../components/toasts";
import { Alert, Badge, Button, ErrorAlert, SelectField, TextField } from "../../components/ui";
import { mergePatch } from "../../lib/jsonSchemaForm";
import { parseTags } from "../catalog/PublishDataset";

export const INTERVALS: { value: string; label: string }[] = [
  { value: "", label: "Only when tested by hand" },
  { value: "60", label: "Every minute" },
  { value: "300", label: "Every 5 minutes" },
  { value: "900", label: "Every 15 minutes" },
  { value: "3600", label: "Every hour" },
  { value: "86400", label: "Every day" },
];

const CRAWL_INTERVALS = [
  { value: "", label: "Only when asked (Crawl now)" },
  { value: "60", label: "Every hour" },
  { value: "360", label: "Every 6 hours" },
  { value: "1440", label: "Every day" },
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

const TOP_FIELDS = ["name", "type", "tags", "check_interval_seconds", "crawl_interval_minutes"];

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
  const [crawlEvery, setCrawlEvery] = useState(
    node?.crawl_interval_minutes ? String(node.crawl_interval_minutes) : "",
  );
  const [clientErrors, setClientErrors] = useState<Record<string, string>>({});
  const [result, setResult] = useState<TestResult | null>(null);
  const [dirty, setDirty] = useState(false);

  const settings = useSchemaSettings(type, "config", node);
  const { detail } = settings;
  const connector = detail.data ?? connectors.find((c) => c.type === type);
  const canTest = !!connector?.capabilities.test_connection;
  const canCrawlType = !!connector?.capabilities.crawl;

  const touch = () => {
    setDirty(true);
    setResult(null);
  };

  const test = useMutation({
    mutationFn: async () => {
      const { config, secrets: secretValues, errors: errs } = settings.collect();
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
      const { config, secrets: secretValues, errors: errs } = settings.collect();
      if (!name.trim()) errs.name = "Give the node a name.";
      if (!type) errs.type = "Choose a connector type.";
      setClientErrors(errs);
      if (Object.keys(errs).length) throw new Error("invalid");
      const interval_s = interval ? Number(interval) : null;
      const crawl_m = canCrawlType && crawlEvery ? Number(crawlEvery) : null;
      if (!node) {
        const body: NodeCreate = {
          name: name.trim(),
          type,
          config,
          secrets: secretValues,
          tags: parseTags(tags),
          check_interval_seconds: interval_s,
          crawl_interval_minutes: crawl_m,
        };
        return nodesApi.create(body);
      }
      const body: NodeUpdate = {
        name: name.trim(),
        config: mergePatch(config, node.config),
        secrets: mergePatch(secretValues, node.secrets),
        tags: parseTags(tags),
        check_interval_seconds: interval_s,
        ...(canCrawlType ? { crawl_interval_minutes: crawl_m } : {}),
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
  const { placed: serverFields, unplaced } = settings.placeErrors(apiError, (key) => TOP_FIELDS.includes(key.split(".")[0] ?? ""));
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
              settings.clearSecrets();
            }}
            error={err("type")}
          />
        )}
      </div>

      <SchemaSettings settings={settings} err={err} onEdit={touch} secretsHint="The server resolves it when it connects.">
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
            {canCrawlType ? (
              <SelectField
                label="Crawl tables and views"
                name="crawl_interval_minutes"
                value={crawlEvery}
                onChange={(e) => setCrawlEvery(e.target.value)}
                error={err("crawl_interval_minutes")}
                hint="A crawl keeps its datasets, columns and view lineage current."
              >
                {CRAWL_INTERVALS.map((i) => (
                  <option key={i.value} value={i.value}>
                    {i.label}
                  </option>
                ))}
              </SelectField>
            ) : null}
          </div>
        </section>
      </SchemaSettings>

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
