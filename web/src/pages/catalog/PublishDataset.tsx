/** Publish a dataset profile (producers and admins). */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { datasetsApi } from "../../api/endpoints";
import { isApiError } from "../../api/errors";
import { PLATFORMS, type Visibility } from "../../api/types";
import { VisibilityOptions, platformLabel } from "../../components/datasets";
import { Dialog } from "../../components/Dialog";
import { useToast } from "../../components/toasts";
import { Button, ErrorAlert, SelectField, TextAreaField, TextField } from "../../components/ui";

const NAMESPACE_EXAMPLES: Record<string, string> = {
  snowflake: "snowflake://acme.eu-west-1",
  databricks: "databricks://acme.cloud.databricks.com",
  bigquery: "bigquery://my-project",
  redshift: "redshift://cluster.eu-west-1",
  postgresql: "postgresql://db.internal:5432",
  s3: "s3://my-bucket",
  kafka: "kafka://broker.internal:9092",
};

const NAME_EXAMPLES: Record<string, string> = {
  snowflake: "ANALYTICS.PUBLIC.ORDERS",
  databricks: "main.sales.orders",
  bigquery: "sales.orders",
  redshift: "dev.public.orders",
  postgresql: "shop.public.orders",
  s3: "raw/orders/",
  kafka: "orders.created",
};

const FIELDS = ["platform", "namespace", "name", "display_name", "description", "domain", "tags", "visibility"];

export function parseTags(input: string): string[] {
  return Array.from(
    new Set(
      input
        .split(/[,\s]+/)
        .map((t) => t.trim().replace(/^#/, "").toLowerCase())
        .filter(Boolean),
    ),
  );
}

/** Field messages for the form; list items (`tags.2`) are shown on their list field. */
export function formFieldErrors(error: unknown, known: string[]): { fields: Record<string, string>; rest: boolean } {
  if (!isApiError(error) || !error.errors.length) return { fields: {}, rest: !!error };
  const fields: Record<string, string> = {};
  let rest = false;
  for (const e of error.errors) {
    const head = String(e.loc[0] ?? e.field);
    const key = known.includes(e.field) ? e.field : known.includes(head) ? head : null;
    if (!key) rest = true;
    else if (!(key in fields)) {
      const msg = e.msg.replace(/^Value error,\s*/i, "");
      fields[key] = e.loc.length > 1 && typeof e.loc[1] === "number" ? `Item ${e.loc[1] + 1}: ${msg}` : msg;
    }
  }
  return { fields, rest };
}

export function PublishDatasetDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  return (
    <Dialog
      open={open}
      onClose={onClose}
      title="Publish a dataset"
      description="Describe a table, topic or path so others can find it and connect to it."
    >
      <PublishForm onClose={onClose} />
    </Dialog>
  );
}

function PublishForm({ onClose }: { onClose: () => void }) {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const toast = useToast();
  const [platform, setPlatform] = useState<(typeof PLATFORMS)[number]>("snowflake");
  const [namespace, setNamespace] = useState("");
  const [name, setName] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [description, setDescription] = useState("");
  const [domain, setDomain] = useState("");
  const [tags, setTags] = useState("");
  const [visibility, setVisibility] = useState<Visibility>("internal");

  const publish = useMutation({
    mutationFn: () =>
      datasetsApi.create({
        platform,
        namespace: namespace.trim(),
        name: name.trim(),
        display_name: displayName.trim(),
        description,
        domain: domain.trim() || null,
        tags: parseTags(tags),
        visibility,
      }),
    onSuccess: (ds) => {
      qc.invalidateQueries({ queryKey: ["datasets"] });
      toast.success("Dataset published", `${ds.display_name || ds.name} is in the catalog.`);
      onClose();
      navigate(`/datasets/${ds.id}`);
    },
  });

  const { fields, rest } = formFieldErrors(publish.error, FIELDS);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    publish.mutate();
  };

  return (
    <form className="form" onSubmit={submit} noValidate>
      {rest ? <ErrorAlert error={publish.error} showFieldErrors /> : null}
      <div className="form-grid">
        <SelectField
          label="Platform"
          name="platform"
          value={platform}
          onChange={(e) => setPlatform(e.target.value as (typeof PLATFORMS)[number])}
          error={fields.platform}
        >
          {PLATFORMS.map((p) => (
            <option key={p} value={p}>
              {platformLabel(p)}
            </option>
          ))}
        </SelectField>
        <SelectField
          label="Visibility"
          name="visibility"
          value={visibility}
          onChange={(e) => setVisibility(e.target.value as Visibility)}
          error={fields.visibility}
          hint={
            visibility === "public"
              ? "Every signed-in user can find it."
              : visibility === "internal"
                ? "Everyone in your organization can find it."
                : "Only owners, admins and stewards can find it."
          }
        >
          <VisibilityOptions />
        </SelectField>
        <TextField
          label="Namespace"
          name="namespace"
          mono
          required
          autoFocus
          placeholder={NAMESPACE_EXAMPLES[platform]}
          value={namespace}
          onChange={(e) => setNamespace(e.target.value)}
          error={fields.namespace}
          hint="OpenLineage namespace: where it lives."
        />
        <TextField
          label="Name"
          name="name"
          mono
          required
          placeholder={NAME_EXAMPLES[platform]}
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={fields.name}
          hint="OpenLineage name: what it is called there."
        />
        <TextField
          label="Display name"
          name="display_name"
          optional
          wide
          placeholder="Orders"
          value={displayName}
          onChange={(e) => setDisplayName(e.target.value)}
          error={fields.display_name}
        />
        <TextAreaField
          label="Description"
          name="description"
          optional
          wide
          rows={3}
          placeholder="What is in it, how fresh it is, who to ask."
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          error={fields.description}
        />
        <TextField
          label="Domain"
          name="domain"
          optional
          placeholder="sales"
          value={domain}
          onChange={(e) => setDomain(e.target.value)}
          error={fields.domain}
        />
        <TextField
          label="Tags"
          name="tags"
          optional
          placeholder="gold, finance, pii"
          value={tags}
          onChange={(e) => setTags(e.target.value)}
          error={fields.tags}
          hint="Separate with commas or spaces."
        />
      </div>
      <div className="form-actions">
        <Button onClick={onClose}>Cancel</Button>
        <Button type="submit" variant="primary" loading={publish.isPending}>
          Publish
        </Button>
      </div>
    </form>
  );
}
