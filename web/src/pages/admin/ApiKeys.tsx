/** API keys for machines: create (the key is shown once), list, revoke. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { apiKeysApi } from "../../api/endpoints";
import { isAdmin, keys, useMe } from "../../api/queries";
import type { ApiKey, ApiKeyCreated, Role } from "../../api/types";
import { ConfirmDialog } from "../../components/Dialog";
import { CheckCircleIcon, KeyIcon, PlusIcon, TrashIcon } from "../../components/icons";
import { useToast } from "../../components/toasts";
import {
  Button,
  CopyButton,
  EmptyState,
  ErrorAlert,
  QueryList,
  SelectField,
  TableSkeleton,
  TextField,
  Time,
} from "../../components/ui";
import { splitErrors } from "../../lib/forms";
import { AdminTable, RoleBadge, RoleOptions, rolesUpTo } from "./shared";

function NewKeyReveal({ created, onDismiss }: { created: ApiKeyCreated; onDismiss: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  const toast = useToast();
  useEffect(() => ref.current?.focus(), []);
  return (
    <div className="secret" ref={ref} tabIndex={-1} role="region" aria-labelledby="new-key-title" data-testid="new-api-key">
      <div className="secret__title" id="new-key-title">
        <CheckCircleIcon /> Key “{created.name}” created. Copy it now: it will not be shown again.
      </div>
      <div className="secret__value">
        <label htmlFor="new-key-value" className="sr-only">
          New API key
        </label>
        <input
          id="new-key-value"
          className="input input--mono"
          readOnly
          value={created.key}
          onFocus={(e) => e.currentTarget.select()}
          spellCheck={false}
        />
        <CopyButton text={created.key} label="Copy key" variant="primary" onCopied={() => toast.success("API key copied")} />
      </div>
      <div className="row" style={{ justifyContent: "space-between" }}>
        <span className="field__hint">
          Scripts and pipelines send it as <code>Authorization: Bearer dm_{created.prefix}_…</code>
        </span>
        <Button size="sm" variant="ghost" onClick={onDismiss}>
          I have stored it
        </Button>
      </div>
    </div>
  );
}

export function Component() {
  const { data: me } = useMe();
  const qc = useQueryClient();
  const toast = useToast();
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);

  const list = useQuery({ queryKey: keys.apiKeys, queryFn: apiKeysApi.list });

  const create = useMutation({
    mutationFn: () => apiKeysApi.create({ name: name.trim(), role }),
    onSuccess: (key) => {
      setCreated(key);
      setName("");
      qc.invalidateQueries({ queryKey: keys.apiKeys });
    },
  });

  const revoke = useMutation({
    mutationFn: (key: ApiKey) => apiKeysApi.revoke(key.id),
    onSuccess: (_, key) => {
      qc.invalidateQueries({ queryKey: keys.apiKeys });
      toast.success("API key revoked", `“${key.name}” stopped working.`);
      if (created?.id === key.id) setCreated(null);
      setRevoking(null);
    },
    onError: (err) => toast.fromError(err, "Could not revoke the key"),
  });

  const { fields, showAlert } = splitErrors(create.error, ["name", "role"]);
  const roles = me ? rolesUpTo(me.role, me.is_platform_admin) : (["viewer"] as Role[]);
  const items = list.data ?? [];

  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };

  return (
    <div className="stack">
      <section className="card" aria-labelledby="new-key-heading">
        <div className="card__header">
          <div>
            <h2 className="card__title" id="new-key-heading">
              Create an API key
            </h2>
            <p className="card__subtitle">
              For scripts, pipelines and OpenLineage producers. A key acts with the role you give it, at
              most your own.
            </p>
          </div>
        </div>
        <div className="card__body stack" style={{ gap: "var(--space-4)" }}>
          {created ? <NewKeyReveal created={created} onDismiss={() => setCreated(null)} /> : null}
          {showAlert ? <ErrorAlert error={create.error} showFieldErrors /> : null}
          <form className="inline-form" onSubmit={submit} noValidate>
            <TextField
              label="Key name"
              name="name"
              placeholder="airflow-production"
              maxLength={200}
              value={name}
              onChange={(e) => setName(e.target.value)}
              error={fields.name}
            />
            <SelectField
              label="Role"
              name="role"
              value={role}
              onChange={(e) => setRole(e.target.value as Role)}
              error={fields.role}
            >
              <RoleOptions roles={roles} />
            </SelectField>
            <Button
              type="submit"
              variant="primary"
              loading={create.isPending}
              style={{ marginBottom: fields.name || fields.role ? 22 : 0 }}
            >
              <PlusIcon /> Create key
            </Button>
          </form>
        </div>
      </section>

      <section className="card" aria-labelledby="keys-heading">
        <div className="card__header">
          <div>
            <h2 className="card__title" id="keys-heading">
              Active keys
            </h2>
            <p className="card__subtitle">
              {isAdmin(me) ? `Every active key of ${me?.org.name ?? "your organization"}.` : "The keys you created."}
            </p>
          </div>
        </div>
        <QueryList
          query={list}
          loading={<TableSkeleton rows={3} columns={5} label="Loading API keys" />}
          isEmpty={items.length === 0}
          empty={
            <EmptyState icon={<KeyIcon />} title="No API keys yet">
              Create one above to let a pipeline publish lineage or read the catalog.
            </EmptyState>
          }
        >
          <AdminTable columns={["Name", "Key", "Role", "Created", "Last used"]}>
            {items.map((key) => (
              <tr key={key.id} data-testid="api-key-row">
                <td className="cell-primary">{key.name}</td>
                <td>
                  <code className="subtle" title="The key's public prefix">
                    dm_{key.prefix}_…
                  </code>
                </td>
                <td>
                  <RoleBadge role={key.role} />
                </td>
                <td className="muted">
                  <Time iso={key.created_at} />
                </td>
                <td className="muted">
                  <Time iso={key.last_used_at} fallback="Never" />
                </td>
                <td className="actions">
                  <Button
                    size="sm"
                    variant="danger-ghost"
                    onClick={() => setRevoking(key)}
                    aria-label={`Revoke ${key.name}`}
                  >
                    <TrashIcon /> Revoke
                  </Button>
                </td>
              </tr>
            ))}
          </AdminTable>
        </QueryList>
      </section>

      <ConfirmDialog
        open={!!revoking}
        title={`Revoke “${revoking?.name ?? ""}”?`}
        confirmLabel="Revoke key"
        pending={revoke.isPending}
        onClose={() => setRevoking(null)}
        onConfirm={() => revoking && revoke.mutate(revoking)}
      >
        Anything using this key stops working at once. This cannot be undone.
      </ConfirmDialog>
    </div>
  );
}
